#!/usr/bin/env bash
# The bad-input table of docs/bad-input.md, row by row, against the CLI.
# Every rejected input: exit 1 (2 for a malformed option, the CLI's usage
# status), exactly one "signmf: ..." line on stderr naming the file (and
# line:column for text), and no --out / --log file left behind. Every
# awkward but valid file: accepted, with the same data as its plain twin.
# Usage: test_badinput.sh PATH/TO/signmf
# Row ids (B01...) match the table in docs/bad-input.md.
set -u

. "$(dirname "$0")/lib.sh"
cli_setup bad "${1:-}"

# python3 from PATH, standard library only (struct, zipfile, zlib).
py=$(command -v python3 || command -v /usr/bin/python3 || true)


# reject ID WANT_RC PATTERN ARGS...: run signmf ARGS; for train also pass
# --out and --log. Checks the exit status, one message line (plus the usage
# hint for status 2) matching the extended regex PATTERN, no output files.
reject() {
    local id=$1 want=$2 pat=$3
    shift 3
    local extra=()
    rm -f out.smf out.csv
    if [ "$1" = train ]; then extra=(--out out.smf --log out.csv --quiet); fi
    "$exe" "$@" "${extra[@]}" >out 2>err
    local rc=$? lines
    lines=$(grep -c '' err)
    local what="$id: signmf $*"
    if [ "$rc" -ne "$want" ]; then
        bad "$what (exit $rc, expected $want)"
    elif [ "$want" -eq 1 ] && [ "$lines" -ne 1 ]; then
        bad "$what ($lines stderr lines, expected 1)"
    elif [ "$want" -eq 2 ] && { [ "$lines" -ne 2 ] || ! grep -q -- '--help' err; }; then
        bad "$what (expected a message and a usage hint)"
    elif ! head -n 1 err | grep -q '^signmf'; then
        bad "$what (message does not start with 'signmf')"
    elif ! head -n 1 err | grep -Eq -- "$pat"; then
        bad "$what (message does not match /$pat/)"
    elif [ -e out.smf ] || [ -e out.csv ] || ls ./*.tmp.* >/dev/null 2>&1; then
        bad "$what (left an output or temporary file behind)"
    elif [ -s out ]; then
        bad "$what (wrote to stdout)"
    else
        ok "$what"
    fi
}

# A small valid data set and model.
printf '1\t1\t5\n1\t2\t3\n2\t1\t4\n2\t3\t2\n3\t2\t1\n3\t3\t4\n' >ok.tsv
"$exe" train ok.tsv --dim 8 --epochs 3 --quiet --out m.smf 2>err || bad "setup: train ok.tsv"

# ---- files ----------------------------------------------------------
reject B01 1 "nope\.tsv: cannot open" train nope.tsv
if [ "$(id -u)" -ne 0 ]; then
    cp ok.tsv locked.tsv
    chmod 000 locked.tsv
    reject B02 1 "locked\.tsv: .*(Permission denied|cannot)" train locked.tsv
else
    skipped "B02: unreadable file (running as root: permissions do not apply)"
fi
mkdir adir
reject B03 1 "adir: .*directory" train adir
: >empty.tsv
reject B04 1 "empty\.tsv: .*empty" train empty.tsv
# Only a byte-order mark (a fuzzer find for Matrix Market: tests/fuzz/regressions/mm).
printf '\357\273\277' >bom.mtx
reject B04 1 "bom\.mtx: file is empty" train bom.mtx
printf '\357\273\277' >bom.tsv
reject B04 1 "bom\.tsv: .*(empty|no ratings)" train bom.tsv
printf 'userId,movieId,rating,timestamp\n' >header.csv
reject B05 1 "header\.csv: .*no ratings" train header.csv
printf 'userId,movieId,rating,timestamp\r\n\r\n' >header2.csv
reject B05 1 "header2\.csv: .*no ratings" train header2.csv

# ---- records ----------------------------------------------------------
printf '1\t1\t5\n1\t2\n' >few.tsv
reject B06 1 "few\.tsv:2:[0-9]+: expected rating, found end of line" train few.tsv
printf '1\t1\t5\n1\t2\t3\t4\t5\n' >many.tsv
reject B06 1 "many\.tsv:2:[0-9]+: expected end of line.*found '5'" train many.tsv
printf 'userId,movieId,rating\n1,1,5\n1,2\n' >few.csv
reject B06 1 "few\.csv:3:[0-9]+: expected" train few.csv
printf '1\t1\t5\n1\tx\t3\n' >alpha.tsv
reject B07 1 "alpha\.tsv:2:3: expected item id.*found 'x'" train alpha.tsv
printf '1\t1\t5\n1\t2\tgood\n' >alpha2.tsv
reject B07 1 "alpha2\.tsv:2:5: expected .*rating.*found 'good'" train alpha2.tsv
printf '1\t1\t5\n0\t2\t3\n' >zero.tsv
reject B08 1 "zero\.tsv:2:1: expected user id >= 1.*found '0'" train zero.tsv
printf '1\t1\t5\n2\t-7\t3\n' >neg.tsv
reject B09 1 "neg\.tsv:2:3: expected item id >= 1.*found '-7'" train neg.tsv
printf '1\t1\t5\n9223372036854775808\t2\t3\n' >huge.tsv
reject B10 1 "huge\.tsv:2:1: expected user id within 64-bit.*found '9223372036854775808'" \
    train huge.tsv
printf '1\t1\t5\n1\t2\tnan\n' >nan.tsv
reject B11 1 "nan\.tsv:2:5: expected a finite rating, found 'nan'" train nan.tsv
printf '1\t1\t5\n1\t2\t-inf\n' >inf.tsv
reject B12 1 "inf\.tsv:2:5: expected a finite rating, found '-inf'" train inf.tsv
printf '1\t1\t5\n1\t2\t1e300\n' >absurd.tsv
reject B13 1 "absurd\.tsv:2:5: expected a rating in .*found '1e300'" train absurd.tsv
printf '1\t1\t5\n1\t2\t99\n' >range.tsv
reject B14 1 "range\.tsv:2:5: expected a rating in \[1, 5\], found '99'" \
    train range.tsv --rating-range 1:5
reject B14 1 "range\.tsv:2:5: expected a rating in \[1, 5\]" loss range.tsv --rating-range 1:5
printf '1\t1\t5\n1\t2\t0\n' >zerorating.tsv
reject B15 1 "zerorating\.tsv:2:5: expected a nonzero rating" train zerorating.tsv
printf '1\t1\t5\n1\t2\t3\n2\t1\t1\n1\t2\t4\n' >dup.tsv
reject B16 1 "dup\.tsv:4: duplicate rating for user 1, item 2 \(first at line 2\)" train dup.tsv
printf '%%%%MatrixMarket matrix coordinate real general\n2 3 1\n3 1 5\n' >outside.mtx
reject B17 1 "outside\.mtx:3:1: expected row index in 1\.\.2, found '3'" train outside.mtx
printf '%%%%MatrixMarket matrix array real general\n2 2\n1\n2\n3\n4\n' >array.mtx
reject B17 1 "array\.mtx:1:[0-9]+: expected" train array.mtx
# One 8 MiB line: a line-length error, not an unbounded buffer.
head -c 8388608 /dev/zero | tr '\0' '7' >longline.tsv
printf '\n' >>longline.tsv
reject B18 1 "longline\.tsv:1:[0-9]+: .*line" train longline.tsv

# ---- binary formats -----------------------------------------------------
if [ -n "$py" ]; then
    "$py" - <<'EOF' || bad "fixture generation"
import struct, zipfile

def npy(descr, shape, data, fortran=False):
    h = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)
    h += ' ' * (64 - (10 + len(h) + 1) % 64) + '\n'
    return b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode() + data

good = npy('<f8', '(2, 3)', struct.pack('<6d', 5, 0, 3, 0, 4, 1))
open('good.npy', 'wb').write(good)
open('trunc.npy', 'wb').write(good[:-5])
open('hdr.npy', 'wb').write(good[:20])
open('object.npy', 'wb').write(npy('|O', '(2, 3)', b'\0' * 48))
open('complex.npy', 'wb').write(npy('<c16', '(2, 3)', b'\0' * 96))
open('bigend.npy', 'wb').write(npy('>f8', '(2, 3)', struct.pack('>6d', 5, 0, 3, 0, 4, 1)))
open('cube.npy', 'wb').write(npy('<f8', '(1, 2, 3)', struct.pack('<6d', 5, 0, 3, 0, 4, 1)))
open('nanval.npy', 'wb').write(npy('<f8', '(2, 3)', struct.pack('<6d', 5, 0, float('nan'), 0, 4, 1)))
with zipfile.ZipFile('good.npz', 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('data.npy', good)
b = open('good.npz', 'rb').read()
open('trunc.npz', 'wb').write(b[:len(b) // 2])
# Zip bomb, declared: a zip64 member claiming 8 GiB. The loader must refuse
# it from the directory, before allocating or inflating anything.
data = b'\x03\x00'  # an empty deflate stream
name = b'data.npy'
usize, csize = 8 << 30, len(data)
z64 = struct.pack('<HHQQ', 1, 16, usize, csize)
local = struct.pack('<IHHHHHIIIHH', 0x04034b50, 45, 0, 8, 0, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF,
                    len(name), len(z64)) + name + z64 + data
central = struct.pack('<IHHHHHHIIIHHHHHII', 0x02014b50, 45, 45, 0, 8, 0, 0, 0, 0xFFFFFFFF,
                      0xFFFFFFFF, len(name), len(z64), 0, 0, 0, 0, 0) + name + z64
end = struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, 1, 1, len(central), len(local), 0)
open('bomb.npz', 'wb').write(local + central + end)
# Zip bomb, lying: declares a small member but inflates to far more.
import zlib
payload = npy('<f8', '(2, 3)', b'\0' * 48)
big = payload + b'\0' * (64 << 20)
co = zlib.compressobj(9, zlib.DEFLATED, -15)
comp = co.compress(big) + co.flush()
crc = zlib.crc32(payload)
local = struct.pack('<IHHHHHIIIHH', 0x04034b50, 20, 0, 8, 0, 0, crc, len(comp), len(payload),
                    len(name), 0) + name + comp
central = struct.pack('<IHHHHHHIIIHHHHHII', 0x02014b50, 20, 20, 0, 8, 0, 0, crc, len(comp),
                      len(payload), len(name), 0, 0, 0, 0, 0, 0) + name
end = struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, 1, 1, len(central), len(local), 0)
open('liar.npz', 'wb').write(local + central + end)
EOF
    reject B19 1 "trunc\.npy: truncated" train trunc.npy
    reject B19 1 "hdr\.npy: .*(truncated|expected)" train hdr.npy
    reject B20 1 "trunc\.npz: expected a zip archive" train trunc.npz
    reject B21 1 "object\.npy: object dtype '\|O' is not supported" train object.npy
    reject B21 1 "complex\.npy: complex dtype '<c16' is not supported" train complex.npy
    reject B21 1 "bigend\.npy: big-endian dtype '>f8' is not supported" train bigend.npy
    reject B22 1 "cube\.npy: expected a 2-D array.*found shape \(1, 2, 3\)" train cube.npy
    reject B23 1 "bomb\.npz\[data\.npy\]: member inflates to 8589934592 bytes, above the cap" \
        train bomb.npz
    reject B23 1 "liar\.npz\[data\.npy\]: .*(zip bomb|more)" train liar.npz
    reject B24 1 "nanval\.npy: .*(finite|NaN|nan)" train nanval.npy
else
    skipped "B19-B24: binary fixtures need python3"
fi

# ---- model files ---------------------------------------------------------
size=$(wc -c <m.smf)
head -c $((size - 100)) m.smf >short.smf
head -c 100 m.smf >stub.smf
cp m.smf flip.smf
# flip one bit in the middle of the data (past the 256-byte header)
off=$((size / 2))
byte=$(od -An -tu1 -j "$off" -N1 flip.smf | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 16)))" | dd of=flip.smf bs=1 seek="$off" conv=notrunc 2>/dev/null
cp m.smf hflip.smf
byte=$(od -An -tu1 -j 30 -N1 hflip.smf | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of=hflip.smf bs=1 seek=30 conv=notrunc 2>/dev/null
cp m.smf newer.smf
printf '\377' | dd of=newer.smf bs=1 seek=8 conv=notrunc 2>/dev/null
printf '\211PNG\r\n\032\n0000000000000000000000000000000000000' >foreign.smf
for cmd in "recommend @ --user 1" "similar @ --item 1" "export @ dirx" "loss ok.tsv --model @" \
    "train ok.tsv --resume @ --epochs 5"; do
    set -- ${cmd//@/short.smf}
    reject B25 1 "short\.smf: truncated model" "$@"
    set -- ${cmd//@/stub.smf}
    reject B25 1 "stub\.smf: truncated model" "$@"
    set -- ${cmd//@/flip.smf}
    reject B26 1 "flip\.smf: .*checksum" "$@"
    set -- ${cmd//@/hflip.smf}
    reject B26 1 "hflip\.smf: header checksum mismatch" "$@"
    set -- ${cmd//@/newer.smf}
    reject B27 1 "newer\.smf: model format version 255 was written by a newer signmf" "$@"
    set -- ${cmd//@/foreign.smf}
    reject B28 1 "foreign\.smf: not a signmf model" "$@"
    set -- ${cmd//@/ok.tsv}
    reject B28 1 "ok\.tsv: (not a signmf model|truncated model)" "$@"
done
[ ! -e dirx ] || bad "export of a bad model created its directory contents"

# ---- options and ids -------------------------------------------------------
reject B29 1 "--dim must be between 1" train ok.tsv --dim 0
reject B30 1 "--epochs expects a whole number, found '-1'" train ok.tsv --epochs -1
reject B31 1 "--lr expects a finite decimal number, found 'nan'" train ok.tsv --lr nan
reject B31 1 "--lr expects a finite decimal number, found 'inf'" train ok.tsv --lr inf
reject B32 1 "--threads must be between 1" train ok.tsv --threads 0
reject B32 1 "--rating-range expects MIN:MAX" train ok.tsv --rating-range 5:1
reject B33 1 "k exceeds the 3 items of the model" recommend m.smf --user 1 -k 4
reject B33 1 "k exceeds the 2 other items" similar m.smf --item 1 -k 4
reject B34 1 "m\.smf: user 42 is not in the model" recommend m.smf --user 42 -k 1
reject B34 1 "m\.smf: user 42 is not in the model" recommend m.smf --users 1,42 -k 1
reject B34 1 "m\.smf: item 42 is not in the model" recommend m.smf --ratings 1:5,42:3 -k 1
reject B34 1 "m\.smf: item 42 is not in the model" similar m.smf --item 42 -k 1
reject B35 1 "--ratings: malformed entry" recommend m.smf --ratings 1:5,2:nan -k 1
reject B35 1 "--ratings: malformed entry" recommend m.smf --ratings 1:5,,2:1 -k 1

# ---- limits: allocation failure under a lowered address-space limit --------
if "$exe" --version >/dev/null 2>&1 && ! nm -an "$exe" 2>/dev/null | grep -q __asan_init; then
    (
        ulimit -v 400000
        reject B36 1 "cannot allocate embeddings" train ok.tsv --dim 4294967295
        reject B36 1 "cannot allocate embeddings" train ok.tsv --dim 50000000
    )
else
    skipped "B36: ulimit -v test (sanitizer build reserves huge shadow memory)"
fi

# bf16 (signmf.h, signmf_precision and signmf_model_convert)
reject B40 1 "--precision expects f32, f64 or bf16, found 'bf8'" train ok.tsv --precision bf8
"$exe" train ok.tsv --dim 8 --epochs 2 --quiet --out f32.smf 2>err &&
    "$exe" convert f32.smf --precision bf16 h.smf 2>err ||
    bad "B41: could not make a bf16 model ($(head -n 1 err))"
reject B41 1 "--precision expects f32, f64 or bf16, found 'f16'" convert f32.smf --precision f16 o.smf
reject B41 2 "--precision is required" convert f32.smf o.smf
[ -e o.smf ] && bad "B41: a rejected convert left o.smf behind"
reject B42 1 "bf16 factors .*resume from the f32 or f64 model" \
    train ok.tsv --resume h.smf --epochs 4

# ---- awkward but valid ------------------------------------------------------
# Each variant must load as exactly the data of ok.tsv: same loss bits.
ref=$("$exe" loss ok.tsv --dim 8 2>err)
accept() { # ID DESC FILE
    local got
    got=$("$exe" loss "$3" --dim 8 2>err)
    local rc=$?
    if [ $rc -ne 0 ]; then
        bad "$1: $2 accepted (exit $rc)"
    elif [ "$got" != "$ref" ]; then
        bad "$1: $2 gives the same data (loss $got, expected $ref)"
    else
        ok "$1: $2 accepted, same data"
    fi
}
crlf() { sed 's/$/\r/'; }
crlf <ok.tsv >crlf.tsv
accept A01 "CRLF line endings" crlf.tsv
{ printf '\357\273\277'; cat ok.tsv; } >bom.tsv
accept A02 "UTF-8 BOM" bom.tsv
head -c -1 ok.tsv >nofinal.tsv
accept A03 "no final newline" nofinal.tsv
{ cat ok.tsv; printf '\n\n  \n\t\n'; } >blank.tsv
accept A04 "trailing blank lines" blank.tsv
sed 's/^/  /; s/$/ \t /' ok.tsv >spaces.tsv
accept A05 "surrounding spaces and tabs" spaces.tsv
sed 's/\t/   /g' ok.tsv >spaced.tsv
accept A06 "runs of spaces as separators" spaced.tsv
{ printf '\357\273\277'; sed 's/$/\r/' ok.tsv; printf '\r\n\r\n'; } >all.tsv
accept A07 "BOM + CRLF + trailing blank lines" all.tsv
{
    printf '\357\273\277userId,movieId,rating,timestamp\r\n'
    awk -F'\t' '{printf " %s , %s ,%s,1\r\n", $1, $2, $3}' ok.tsv
    printf '\r\n'
} >awk.csv
accept A08 "CSV with BOM, CRLF, spaces around fields, trailing blank line" awk.csv
{
    printf '%%%%MatrixMarket matrix coordinate real general\r\n%% comment\r\n3 3 6\r\n'
    awk -F'\t' '{printf "%s %s %s\r\n", $1, $2, $3}' ok.tsv
} >crlf.mtx
accept A09 "Matrix Market with CRLF and a comment" crlf.mtx
{
    printf 'userId,movieId,rating,timestamp\n'
    awk -F'\t' '{printf "%s,%s,%s,1", $1, $2, $3; if (NR < 6) printf "\n"}' ok.tsv
} >nofinal.csv
accept A10 "CSV without a final newline" nofinal.csv

echo "# bad input: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
