/* libFuzzer target: the CSV ratings loader through signmf_ratings_load. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_load(data, size, SIGNMF_FORMAT_CSV);
    return 0;
}
