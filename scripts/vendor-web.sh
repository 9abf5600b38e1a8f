#!/usr/bin/env bash
# Re-vendor the live view's libraries (web/vendor/) and the browser tests' axe-core
# (tests/browser/vendor/) from the npm registry, at the versions pinned below.
#
# Each package is fetched with `npm pack` into a temporary directory (npm checks the tarball
# against the registry's integrity), its sha512 is compared with the one pinned here, and the
# files the page loads are copied with their licenses. Source-map comments are dropped (the
# maps are not vendored). web/vendor/README.md lists what is vendored and why; bump a version
# there and here together, then run this script and the browser tests.
#
# Usage: scripts/vendor-web.sh          (needs node and npm; nothing is installed)
set -euo pipefail
cd "$(dirname "$0")/.."

# name@version | sha512 of the tarball | package file:destination ...
PACKAGES=(
  "marked@18.3.0|sha512-ed8zmPXlBb3UfGXN5iHMQyMhFpdqLgoV5umUXx/Q1R+FW3q8VpqpyoKUwlENL9appo2UMvNLURDVaT3AMOryGA==|lib/marked.esm.js:web/vendor/marked.esm.js LICENSE:web/vendor/licenses/marked.txt"
  "dompurify@3.5.0|sha512-LYC0ZkE8P1V42JsRYTwMdme/2ET8SpOc5AA2eOFjP/IadvRd2fwiT4TVz5vkfy0XUx12aS2UaRkTnfVPNOv9vw==|dist/purify.es.mjs:web/vendor/purify.es.js LICENSE:web/vendor/licenses/dompurify.txt"
  "@highlightjs/cdn-assets@11.12.0|sha512-KvOKXODaiFmId9xaq3xc5xCL66wVLUuOngDbO9B/kewbFTqdGbn2nJxNhN3H5R1cgDTVj6R8vH0zgiNDEGjpDw==|es/highlight.min.js:web/vendor/highlight.min.js styles/a11y-light.min.css:web/vendor/highlight-a11y-light.min.css LICENSE:web/vendor/licenses/highlight.js.txt"
  "diff2html@3.4.56|sha512-u9gfn+BlbHcyO7vItCIC4z49LJDUt31tODzOfAuJ5R1E7IdlRL6KjugcB9zOpejD+XiR+dDZbsnHSQ3g6A/u8A==|bundles/js/diff2html-ui-base.min.js:web/vendor/diff2html-ui-base.min.js bundles/css/diff2html.min.css:web/vendor/diff2html.min.css LICENSE.md:web/vendor/licenses/diff2html.txt"
  "axe-core@4.14.1|sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==|axe.min.js:tests/browser/vendor/axe.min.js LICENSE:tests/browser/vendor/axe-core-LICENSE.txt"
)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for entry in "${PACKAGES[@]}"; do
  IFS='|' read -r spec integrity files <<<"$entry"
  echo "vendoring $spec"
  tarball="$(cd "$work" && npm pack --silent "$spec")"
  actual="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w0)"
  if [ "$actual" != "$integrity" ]; then
    echo "*** $spec: tarball sha512 is $actual, expected $integrity" >&2
    exit 1
  fi
  unpacked="$work/${tarball%.tgz}"
  mkdir -p "$unpacked"
  tar -xzf "$work/$tarball" -C "$unpacked"
  for pair in $files; do
    source="$unpacked/package/${pair%%:*}"
    destination="${pair#*:}"
    mkdir -p "$(dirname "$destination")"
    grep -v '^//# sourceMappingURL=' "$source" >"$destination" || true
  done
done
echo "done: see web/vendor/README.md"
