#!/usr/bin/env bash
# Download the MovieLens 100k data set from GroupLens into ./data/ml-100k
# (for machines with network access; CI does not use this). Afterwards run
# the MovieLens tests with:  SIGNMF_DATA_DIR=$PWD/data bash scripts/test.sh
# (scripts/test.sh also finds ./data on its own). The data is not ours to
# redistribute: never commit ./data (it is in .gitignore).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

URL=${MOVIELENS_URL:-https://files.grouplens.org/datasets/movielens/ml-100k.zip}
DEST=data
mkdir -p "$DEST"

if [ -f "$DEST/ml-100k/ua.base" ]; then
  echo "fetch-movielens: $DEST/ml-100k already present"
  exit 0
fi

zip="$DEST/ml-100k.zip"
tmp="$zip.part"
if command -v curl >/dev/null 2>&1; then
  curl -fL --retry 3 -o "$tmp" "$URL"
elif command -v wget >/dev/null 2>&1; then
  wget -O "$tmp" "$URL"
else
  echo "fetch-movielens: need curl or wget" >&2
  exit 1
fi
mv "$tmp" "$zip"

if command -v unzip >/dev/null 2>&1; then
  unzip -q -o "$zip" -d "$DEST"
else
  /usr/bin/env python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$zip" "$DEST"
fi
rm -f "$zip"

lines=$(wc -l < "$DEST/ml-100k/ua.base")
if [ "$lines" -ne 90570 ]; then
  echo "fetch-movielens: $DEST/ml-100k/ua.base has $lines lines, expected 90570" >&2
  exit 1
fi
echo "fetch-movielens: $DEST/ml-100k ready ($lines ratings in ua.base)"
