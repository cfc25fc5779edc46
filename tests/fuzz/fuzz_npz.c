/* libFuzzer target: the NPZ ratings loader through signmf_ratings_load. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_load(data, size, SIGNMF_FORMAT_NPZ);
    return 0;
}
