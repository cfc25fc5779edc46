/* Progress reporting, the training log and atomic file writes for the CLI. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool cli_write_atomic(const char *path, const char *data, size_t len, char *msg, size_t msglen)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (tmp == NULL) {
        snprintf(msg, msglen, "%s: out of memory", path);
        return false;
    }
    /* A sibling, so that rename stays within one file system. */
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(msg, msglen, "%s: cannot create a temporary file: %s", path, strerror(errno));
        free(tmp);
        return false;
    }
    /* mkstemp creates 0600; a log or data file should get the usual mode. */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    free(tmp);
    return true;
fail:
    snprintf(msg, msglen, "%s: cannot write: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return false;
}

static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    /* A second Ctrl-C falls back to the default: kill immediately. */
    if (g_interrupted)
        _exit(130);
    g_interrupted = 1;
}

void cli_install_sigint(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

bool cli_interrupted(void)
{
    return g_interrupted != 0;
}

void cli_progress_init(cli_progress *p, uint64_t total, bool quiet, bool want_log)
{
    memset(p, 0, sizeof *p);
    p->quiet = quiet;
    p->tty = isatty(STDERR_FILENO) != 0;
    p->total = total;
    p->last_loss = NAN;
    if (want_log) {
        p->log_cap = 256;
        p->log = malloc(p->log_cap);
        if (p->log == NULL)
            p->log_failed = true;
        else
            p->log_len = (size_t)snprintf(p->log, p->log_cap, "epoch,loss,seconds\n");
    }
}

static void log_row(cli_progress *p, uint64_t epoch, double loss, double seconds, double log_scale)
{
    if (p->log == NULL)
        return;
    char row[128];
    int n = p->with_scale ? snprintf(row, sizeof row, "%llu,%.17g,%.6f,%.17g\n",
                                     (unsigned long long)epoch, loss, seconds, log_scale)
                          : snprintf(row, sizeof row, "%llu,%.17g,%.6f\n",
                                     (unsigned long long)epoch, loss, seconds);
    if (n < 0 || (size_t)n >= sizeof row)
        return;
    if (p->log_len + (size_t)n + 1 > p->log_cap) {
        size_t cap = p->log_cap * 2 + (size_t)n;
        char *grown = realloc(p->log, cap);
        if (grown == NULL) {
            p->log_failed = true;
            return;
        }
        p->log = grown;
        p->log_cap = cap;
    }
    memcpy(p->log + p->log_len, row, (size_t)n + 1);
    p->log_len += (size_t)n;
}

int cli_progress_cb(void *user, uint64_t epoch, double loss, double log_scale, double seconds)
{
    cli_progress *p = user;
    p->last_loss = loss;
    p->last_epoch = epoch;
    p->last_seconds = seconds;
    p->reports++;
    log_row(p, epoch, loss, seconds, log_scale);
    if (!p->quiet) {
        uint64_t total = p->base + p->total;
        if (p->tty) {
            enum { WIDTH = 24 };
            int fill = total ? (int)((double)epoch / (double)total * WIDTH + 0.5) : WIDTH;
            if (fill > WIDTH)
                fill = WIDTH;
            char bar[WIDTH + 1];
            memset(bar, '#', (size_t)fill);
            memset(bar + fill, '.', (size_t)(WIDTH - fill));
            bar[WIDTH] = '\0';
            fprintf(stderr, "\r[%s] epoch %llu/%llu loss %.4f %.3fs\033[K", bar,
                    (unsigned long long)epoch, (unsigned long long)total, loss, seconds);
            p->bar_open = true;
        } else {
            fprintf(stderr, "epoch %llu/%llu loss %.4f %.3fs\n", (unsigned long long)epoch,
                    (unsigned long long)total, loss, seconds);
        }
        fflush(stderr);
    }
    return cli_interrupted() ? 1 : 0;
}

void cli_progress_finish(cli_progress *p)
{
    if (p->bar_open) {
        fputc('\n', stderr);
        p->bar_open = false;
    }
}

void cli_progress_free(cli_progress *p)
{
    free(p->log);
    p->log = NULL;
}

/* Fail before a long run rather than after it when an output cannot be
 * written: its directory must exist and be writable. */
int cli_check_output(const char *path)
{
    if (path == NULL)
        return -1;
    const char *slash = strrchr(path, '/');
    char *dir;
    if (slash == NULL) {
        dir = strdup(".");
    } else if (slash == path) {
        dir = strdup("/");
    } else {
        dir = strndup(path, (size_t)(slash - path));
    }
    if (dir == NULL)
        return cli_error("out of memory");
    int ok = access(dir, W_OK | X_OK);
    int e = errno;
    int rc = -1;
    if (ok != 0)
        rc = cli_error("%s: cannot write into directory '%s': %s", path, dir, strerror(e));
    free(dir);
    return rc;
}
