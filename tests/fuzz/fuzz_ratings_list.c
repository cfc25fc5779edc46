/* libFuzzer target: the --ratings ITEM:RATING,... and --users ID,... list
 * parsers of `signmf recommend`. They are static in cmd_recommend.c, so the
 * file is compiled into this target as is. */
#include "../../src/cli/cmd_recommend.c"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    id_list l = {0};
    if (parse_list("--ratings", s, rating_token, &l) == CLI_OK && !l.oom) {
        /* every accepted rating is finite and nonzero */
        for (size_t i = 0; i < l.n; i++)
            if (!isfinite(l.ratings[i]) || l.ratings[i] == 0)
                abort();
    }
    free(l.ids);
    free(l.ratings);
    id_list u = {0};
    (void)parse_list("--users", s, user_token, &u);
    free(u.ids);
    free(u.ratings);
    free(s);
    return 0;
}
