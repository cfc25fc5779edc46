/* .npz: a zip archive of .npy members (np.savez stores, np.savez_compressed
 * deflates). A small reader of our own: the central directory is the
 * authority for sizes (numpy writes members with force_zip64, so local
 * headers carry 0xFFFFFFFF sizes), zip64 extra fields and the zip64 end
 * record are understood, and inflation is capped and CRC-checked. */
#include "load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint64_t sm_rd(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t k = n; k-- > 0;)
        v = v << 8 | p[k];
    return v;
}

typedef struct sm_zent {
    const unsigned char *name;
    size_t name_len;
    unsigned flags, method;
    uint32_t crc;
    uint64_t csize, usize, offset;
} sm_zent;

#define SM_ZBAD(...) sm_fail(err, SIGNMF_EFORMAT, __VA_ARGS__)

static uint32_t sm_crc(const unsigned char *p, uint64_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

signmf_status sm_npz_locate(const char *path, const unsigned char *buf, size_t len,
                            const signmf_load_options *opt, sm_npz_member *m, signmf_error *err)
{
    memset(m, 0, sizeof *m);
    if (len < 22)
        return SM_ZBAD("%s: expected a zip archive (.npz), found %zu bytes", path, len);
    size_t eocd = 0;
    bool found = false;
    size_t stop = len - 22 > 65535 ? len - 22 - 65535 : 0;
    for (size_t i = len - 22 + 1; i-- > stop;) {
        if (sm_rd(buf + i, 4) == 0x06054b50) {
            eocd = i;
            found = true;
            break;
        }
    }
    if (!found)
        return SM_ZBAD("%s: expected a zip archive (.npz), found no end of central directory",
                       path);
    uint64_t entries = sm_rd(buf + eocd + 10, 2), cd_size = sm_rd(buf + eocd + 12, 4),
             cd_off = sm_rd(buf + eocd + 16, 4);
    if (entries == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu) {
        if (eocd < 20 || sm_rd(buf + eocd - 20, 4) != 0x07064b50)
            return SM_ZBAD("%s: zip64 sizes without a zip64 end record locator", path);
        uint64_t z = sm_rd(buf + eocd - 20 + 8, 8);
        if (z > len || len - z < 56 || sm_rd(buf + z, 4) != 0x06064b50)
            return SM_ZBAD("%s: bad zip64 end of central directory record", path);
        entries = sm_rd(buf + z + 32, 8);
        cd_size = sm_rd(buf + z + 40, 8);
        cd_off = sm_rd(buf + z + 48, 8);
    }
    if (cd_off > len || cd_size > len - cd_off)
        return SM_ZBAD("%s: central directory at %llu (%llu bytes) lies outside the %zu-byte file",
                       path, (unsigned long long)cd_off, (unsigned long long)cd_size, len);

    const char *key = opt->npz_key ? opt->npz_key : "data";
    size_t key_len = strlen(key);
    sm_zent pick = {0}, only = {0};
    bool have = false;
    char names[256] = "";
    size_t nl = 0;
    const unsigned char *p = buf + cd_off, *cd_end = buf + cd_off + cd_size;
    for (uint64_t e = 0; e < entries; e++) {
        if ((size_t)(cd_end - p) < 46 || sm_rd(p, 4) != 0x02014b50)
            return SM_ZBAD("%s: expected central directory entry %llu of %llu, found corrupt data",
                           path, (unsigned long long)e + 1, (unsigned long long)entries);
        sm_zent z = {
            .flags = (unsigned)sm_rd(p + 8, 2),
            .method = (unsigned)sm_rd(p + 10, 2),
            .crc = (uint32_t)sm_rd(p + 16, 4),
            .csize = sm_rd(p + 20, 4),
            .usize = sm_rd(p + 24, 4),
            .name_len = (size_t)sm_rd(p + 28, 2),
            .offset = sm_rd(p + 42, 4),
        };
        size_t xlen = (size_t)sm_rd(p + 30, 2), clen = (size_t)sm_rd(p + 32, 2);
        if ((size_t)(cd_end - p) - 46 < z.name_len + xlen + clen)
            return SM_ZBAD("%s: central directory entry %llu overruns the directory", path,
                           (unsigned long long)e + 1);
        z.name = p + 46;
        /* zip64 extra field: only the 0xFFFFFFFF fields are present, in
         * this order. */
        const unsigned char *x = p + 46 + z.name_len, *xe = x + xlen;
        while (xe - x >= 4) {
            unsigned id = (unsigned)sm_rd(x, 2), n = (unsigned)sm_rd(x + 2, 2);
            if ((size_t)(xe - x - 4) < n)
                break;
            if (id == 1) {
                const unsigned char *f = x + 4, *fe = f + n;
                if (z.usize == 0xFFFFFFFFu && fe - f >= 8) {
                    z.usize = sm_rd(f, 8);
                    f += 8;
                }
                if (z.csize == 0xFFFFFFFFu && fe - f >= 8) {
                    z.csize = sm_rd(f, 8);
                    f += 8;
                }
                if (z.offset == 0xFFFFFFFFu && fe - f >= 8)
                    z.offset = sm_rd(f, 8);
            }
            x += 4 + n;
        }
        p += 46 + z.name_len + xlen + clen;
        if (nl < sizeof names - 40)
            nl += (size_t)snprintf(names + nl, sizeof names - nl, "%s'%.*s'", e ? ", " : "",
                                   (int)(z.name_len > 32 ? 32 : z.name_len), z.name);
        if (e == 0)
            only = z;
        if ((z.name_len == key_len + 4 && memcmp(z.name, key, key_len) == 0 &&
             memcmp(z.name + key_len, ".npy", 4) == 0) ||
            (z.name_len == key_len && memcmp(z.name, key, key_len) == 0)) {
            pick = z;
            have = true;
        }
    }
    if (!have) {
        if (!opt->npz_key && entries == 1)
            pick = only;
        else
            return sm_fail(err, SIGNMF_ENOTFOUND, "%s: expected a member '%s.npy', found %s%s",
                           path, key, entries ? "" : "an empty archive", names);
    }
    char *name = m->name;
    snprintf(name, sizeof m->name, "%s[%.*s]", path,
             (int)(pick.name_len > 200 ? 200 : pick.name_len), pick.name);
    if (pick.flags & 1)
        return sm_fail(err, SIGNMF_EUNSUPPORTED, "%s: encrypted zip members are not supported",
                       name);
    if (pick.method != 0 && pick.method != 8)
        return sm_fail(err, SIGNMF_EUNSUPPORTED,
                       "%s: expected zip compression method 0 (stored) or 8 (deflate), found %u",
                       name, pick.method);
    uint64_t cap = opt->max_inflated ? opt->max_inflated : ((uint64_t)4 << 30);
    if (pick.usize > cap)
        return SM_ZBAD("%s: member inflates to %llu bytes, above the cap of %llu", name,
                       (unsigned long long)pick.usize, (unsigned long long)cap);
    if (pick.usize >= SIZE_MAX)
        return sm_fail(err, SIGNMF_EOVERFLOW, "%s: member too large for memory", name);
    if (pick.offset > len || len - pick.offset < 30 || sm_rd(buf + pick.offset, 4) != 0x04034b50)
        return SM_ZBAD("%s: expected a local file header at offset %llu, found corrupt data", name,
                       (unsigned long long)pick.offset);
    uint64_t data =
        pick.offset + 30 + sm_rd(buf + pick.offset + 26, 2) + sm_rd(buf + pick.offset + 28, 2);
    if (data > len || pick.csize > len - data)
        return SM_ZBAD("%s: truncated member: expected %llu compressed bytes, found %llu", name,
                       (unsigned long long)pick.csize,
                       (unsigned long long)(data > len ? 0 : len - data));

    if (pick.method == 0 && pick.csize != pick.usize)
        return SM_ZBAD("%s: stored member with %llu compressed but %llu plain bytes", name,
                       (unsigned long long)pick.csize, (unsigned long long)pick.usize);
    m->method = pick.method;
    m->data = data;
    m->csize = pick.csize;
    m->usize = pick.usize;
    m->crc = pick.crc;
    return SIGNMF_OK;
}

/* sm_npz_stream's reader over an archive image in memory. */
typedef struct mem_src {
    const unsigned char *p;
    size_t n;
} mem_src;

static size_t mem_read(void *ctx, uint64_t off, unsigned char *buf, size_t n)
{
    const mem_src *m = ctx;
    if (off >= m->n)
        return 0;
    size_t k = m->n - (size_t)off < n ? m->n - (size_t)off : n;
    memcpy(buf, m->p + off, k);
    return k;
}

signmf_status sm_npz_load(const char *path, const unsigned char *buf, size_t len,
                          const signmf_load_options *opt, signmf_ratings **out, signmf_error *err)
{
    *out = NULL;
    sm_npz_member pick;
    signmf_status lst = sm_npz_locate(path, buf, len, opt, &pick, err);
    if (lst != SIGNMF_OK)
        return lst;
    const char *name = pick.name;
    const unsigned char *member = buf + pick.data;
    unsigned char *inflated = NULL;
    signmf_status st = SIGNMF_OK;
    if (pick.method != 0) {
        /* the streaming reader signmf-mpi uses, into one buffer: one
         * inflate loop with one set of size and CRC checks */
        inflated = malloc((size_t)pick.usize + 1);
        if (!inflated)
            return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory inflating %llu bytes", name,
                           (unsigned long long)pick.usize);
        mem_src src = {buf, len};
        st = sm_npz_stream(&pick, mem_read, &src, NULL, NULL, inflated, err);
        member = inflated;
    } else {
        uint32_t crc = sm_crc(member, pick.usize);
        if (crc != pick.crc)
            st = sm_fail(err, SIGNMF_ECHECKSUM, "%s: expected CRC-32 %08x, found %08x", name,
                         (unsigned)pick.crc, (unsigned)crc);
    }
    if (st == SIGNMF_OK)
        st = sm_npy_load(name, member, (size_t)pick.usize, opt, out, err);
    free(inflated);
    return st;
}

signmf_status sm_npz_stream(const sm_npz_member *m, sm_npz_read_fn rd, void *rctx,
                            sm_npz_sink_fn sink, void *sctx, unsigned char *dst, signmf_error *err)
{
    enum { CHUNK = 1 << 18 };
    const char *name = m->name;
    unsigned char *in = malloc(CHUNK), *out = dst ? NULL : malloc(CHUNK);
    if (!in || (!dst && !out)) {
        free(in);
        free(out);
        return sm_fail(err, SIGNMF_ENOMEM, "%s: out of memory for the inflate buffers", name);
    }
    z_stream z;
    memset(&z, 0, sizeof z);
    bool deflate = m->method != 0;
    if (deflate && inflateInit2(&z, -15) != Z_OK) {
        free(in);
        free(out);
        return sm_fail(err, SIGNMF_ENOMEM, "%s: cannot initialise zlib", name);
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    uint64_t in_done = 0, out_done = 0;
    signmf_status st = SIGNMF_OK;
    for (;;) {
        size_t got = 0;
        if (in_done < m->csize && (!deflate || z.avail_in == 0)) {
            uint64_t left = m->csize - in_done;
            size_t want = left < CHUNK ? (size_t)left : CHUNK;
            got = rd(rctx, m->data + in_done, in, want);
            if (got != want) {
                st = SM_ZBAD("%s: truncated member: expected %llu compressed bytes, found %llu",
                             name, (unsigned long long)m->csize,
                             (unsigned long long)(in_done + got));
                break;
            }
            in_done += got;
            z.next_in = in;
            z.avail_in = (uInt)got;
        }
        size_t n;
        int zr = Z_OK;
        /* with dst, the bytes land in place; one spare byte there shows a
         * member that inflates to more than it declares */
        unsigned char *o = dst ? dst + out_done : out;
        uint64_t left = m->usize + 1 - out_done;
        size_t room = !dst ? (size_t)CHUNK : left < (1u << 30) ? (size_t)left : (size_t)1 << 30;
        if (!deflate) {
            if (got == 0)
                break;
            if (got > room) {
                st = SM_ZBAD("%s: expected %llu inflated bytes as the directory declares, found "
                             "more (corrupt or a zip bomb)",
                             name, (unsigned long long)m->usize);
                break;
            }
            memcpy(o, in, got);
            n = got;
            z.avail_in = 0;
        } else {
            z.next_out = o;
            z.avail_out = (uInt)room;
            zr = inflate(&z, Z_NO_FLUSH);
            n = room - z.avail_out;
            if (zr != Z_OK && zr != Z_STREAM_END && !(zr == Z_BUF_ERROR && n > 0)) {
                if (zr == Z_BUF_ERROR && in_done == m->csize)
                    st = SM_ZBAD("%s: truncated deflate data: inflated %llu of %llu bytes", name,
                                 (unsigned long long)out_done, (unsigned long long)m->usize);
                else if (zr != Z_BUF_ERROR)
                    st = SM_ZBAD("%s: corrupt deflate data (%s)", name, z.msg ? z.msg : "error");
                if (st != SIGNMF_OK)
                    break;
            }
        }
        if (out_done + n > m->usize) {
            st = SM_ZBAD("%s: expected %llu inflated bytes as the directory declares, found "
                         "more (corrupt or a zip bomb)",
                         name, (unsigned long long)m->usize);
            break;
        }
        if (n) {
            crc = crc32(crc, o, (uInt)n);
            if (sink && sink(sctx, o, n, out_done) != 0) {
                st = SIGNMF_EINVAL;
                break;
            }
            out_done += n;
        }
        if (deflate && zr == Z_STREAM_END)
            break;
        if (!deflate && in_done == m->csize)
            break;
    }
    if (deflate)
        inflateEnd(&z);
    free(in);
    free(out);
    if (st != SIGNMF_OK)
        return st;
    if (out_done != m->usize)
        return SM_ZBAD("%s: expected %llu inflated bytes, found %llu", name,
                       (unsigned long long)m->usize, (unsigned long long)out_done);
    if ((uint32_t)crc != m->crc)
        return sm_fail(err, SIGNMF_ECHECKSUM, "%s: expected CRC-32 %08x, found %08x", name,
                       (unsigned)m->crc, (unsigned)crc);
    return SIGNMF_OK;
}
