/* signmf command-line entry point: dispatch to a command. */
#include "cli.h"
#include "cli_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: signmf COMMAND [options]\n"
    "\n"
    "Sign-loss matrix factorisation: user and item embeddings from ratings.\n"
    "\n"
    "Commands:\n"
    "  train RATINGS      learn embeddings and save a model\n"
    "  loss RATINGS       print the sign loss of the initialisation or a model\n"
    "  recommend MODEL    top-k unrated items for a user\n"
    "  similar MODEL      items most like an item (cosine)\n"
    "  eval MODEL TEST    ranking metrics on held-out ratings\n"
    "  export MODEL DIR   write P.npy and Q.npy for numpy\n"
    "  convert MODEL OUT  the model with bf16 (or f32, f64) factors\n"
    "  split RATINGS      write train --holdout's validation split as two files\n"
    "  synth              write a synthetic MovieLens-like ratings set\n"
    "  demo               train on MovieLens 100k or synthetic data and show\n"
    "                     recommendations\n"
    "\n"
    "Run 'signmf COMMAND --help' for a command's options.\n"
    "  -h, --help         show this help\n"
    "  --version          print the version\n"
    "\n"
    "Exit status: 0 success, 1 bad input or runtime error, 2 wrong usage.\n";

/* SIGNMF_ISA_DEBUG=1: which kernel set runs, and why (the library keeps
 * quiet; this is its choice as signmf_kernel_name() reports it). */
static void debug_kernels(void)
{
    const char *dbg = getenv("SIGNMF_ISA_DEBUG");
    if (!dbg || !*dbg || strcmp(dbg, "0") == 0)
        return;
    const char *name = signmf_kernel_name(), *want = getenv("SIGNMF_ISA"), *why = "cpuid";
    if (want &&
        (strcmp(want, "portable") == 0 || strcmp(want, "avx2") == 0 || strcmp(want, "avx512") == 0))
        why = strcmp(want, name) == 0 ? "SIGNMF_ISA"
                                      : "SIGNMF_ISA names an ISA this CPU lacks; using cpuid";
    fprintf(stderr, "signmf: kernels %s (%s)\n", name, why);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } cmds[] = {
        {"train", cmd_train},     {"loss", cmd_loss},   {"recommend", cmd_recommend},
        {"export", cmd_export},   {"synth", cmd_synth}, {"demo", cmd_demo},
        {"similar", cmd_similar}, {"eval", cmd_eval},   {"split", cmd_split},
        {"convert", cmd_convert},
    };
    debug_kernels();
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    const char *c = argv[1];
    if (strcmp(c, "--help") == 0 || strcmp(c, "-h") == 0 || strcmp(c, "help") == 0) {
        fputs(usage, stdout);
        return fflush(stdout) == 0 ? CLI_OK : CLI_ERROR;
    }
    if (strcmp(c, "--version") == 0 || strcmp(c, "-V") == 0) {
        printf("signmf %s (kernel %s)\n", signmf_version(), signmf_kernel_name());
        return fflush(stdout) == 0 ? CLI_OK : CLI_ERROR;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(c, cmds[i].name) == 0)
            return cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "signmf: unknown command '%s'\nTry 'signmf --help' for usage.\n", c);
    return CLI_USAGE;
}
