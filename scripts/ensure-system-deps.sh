#!/usr/bin/env bash
# Best-effort install of the Debian packages some tests and benchmarks use (headless Chromium for web tests,
# wrk for closed-loop load). Needs root and apt-get; otherwise it says what is missing and carries on
# (the tests that need a missing tool are skipped outside CI and fail in CI).
set -u
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${missing[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/tmp/trilho-apt.log 2>&1 \
    || echo "warning: apt-get install ${missing[*]} failed (see /tmp/trilho-apt.log)"
else
  echo "note: not installing ${missing[*]} (needs root + apt-get); tests that need them will be skipped"
fi
exit 0
