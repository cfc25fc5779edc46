/* Kernel selection: done once, from CPUID, unless SIGNMF_ISA forces one.
 * Compiled for the baseline CPU; only the kernel files carry ISA flags. */
#include "kernels.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static sm_kernels sm_tables[SM_ISA_COUNT];
static bool sm_table_ok[SM_ISA_COUNT];
static const sm_kernels *sm_active;
static pthread_once_t sm_once = PTHREAD_ONCE_INIT;

static const char *const sm_isa_names[SM_ISA_COUNT] = {"portable", "avx2", "avx512"};

const char *sm_isa_name(sm_isa isa)
{
    return (unsigned)isa < SM_ISA_COUNT ? sm_isa_names[isa] : "unknown";
}

static bool sm_cpu_has(sm_isa isa)
{
#if defined(SM_HAVE_X86_KERNELS)
    /* __builtin_cpu_supports also checks that the OS saves the wide
     * registers (XGETBV), so a kernel it approves can really run. */
    __builtin_cpu_init();
    switch (isa) {
    case SM_ISA_PORTABLE:
        return true;
    case SM_ISA_AVX2:
        return __builtin_cpu_supports("avx2");
    case SM_ISA_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    default:
        return false;
    }
#else
    return isa == SM_ISA_PORTABLE;
#endif
}

sm_cvt_bf16_fn sm_cvt_bf16_native(void)
{
#if defined(SM_HAVE_X86_KERNELS)
    __builtin_cpu_init();
    if (sm_cpu_has(SM_ISA_AVX512) && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512bf16"))
        return sm_cvt_bf16_avx512bf16;
#endif
    return NULL;
}

static void sm_kernels_setup(void)
{
    /* Every table starts as the portable one; each ISA overrides the slots
     * it implements. */
    for (int i = 0; i < SM_ISA_COUNT; ++i) {
        sm_kernels_init_portable(&sm_tables[i]);
        sm_table_ok[i] = sm_cpu_has((sm_isa)i);
    }
#if defined(SM_HAVE_X86_KERNELS)
    /* The init functions live in the ISA-flagged files, and the compiler
     * may use wide instructions even to fill a table: call them only where
     * the CPU can run them. */
    if (sm_table_ok[SM_ISA_AVX2])
        sm_kernels_init_avx2(&sm_tables[SM_ISA_AVX2]);
    /* The AVX-512 table starts from the AVX2 one (every AVX-512 CPU has
     * AVX2), so the slots it has no wider code for (the bf16 gathers) run
     * AVX2 code rather than portable code. */
    if (sm_table_ok[SM_ISA_AVX512]) {
        sm_kernels_init_avx2(&sm_tables[SM_ISA_AVX512]);
        sm_kernels_init_avx512(&sm_tables[SM_ISA_AVX512]);
        if (sm_cvt_bf16_native())
            sm_tables[SM_ISA_AVX512].cvt_bf16 = sm_cvt_bf16_native();
    }
#endif
    sm_isa best = SM_ISA_PORTABLE;
    for (int i = SM_ISA_COUNT - 1; i >= 0; --i)
        if (sm_table_ok[i]) {
            best = (sm_isa)i;
            break;
        }
    const char *want = getenv("SIGNMF_ISA");
    if (want && *want) {
        for (int i = 0; i < SM_ISA_COUNT; ++i)
            if (strcmp(want, sm_isa_names[i]) == 0) {
                if (sm_table_ok[i])
                    best = (sm_isa)i;
            }
    }
    sm_active = &sm_tables[best];
}

const sm_kernels *sm_kernels_active(void)
{
    pthread_once(&sm_once, sm_kernels_setup);
    return sm_active;
}

const sm_kernels *sm_kernels_for(sm_isa isa)
{
    pthread_once(&sm_once, sm_kernels_setup);
    if ((unsigned)isa >= SM_ISA_COUNT || !sm_table_ok[isa])
        return NULL;
    return &sm_tables[isa];
}

const char *signmf_kernel_name(void)
{
    return sm_kernels_active()->name;
}
