#!/usr/bin/env bash
# Worker containment (issue 9 §1): sourced by .ci/run before the tests.
# * Workers of a root server run as `nobody`, which cannot use the pyenv python3 under /root:
#   the digits example runs on Debian's python3 with python3-sklearn (docs/security.md).
# * The containment tests must not skip in CI: a machine without Landlock, memory cgroups,
#   root or that python fails them (TRAINYARD_REQUIRE_SANDBOX, TRAINYARD_REQUIRE_SKLEARN).
if ! /usr/bin/python3 -c 'import sklearn, joblib' 2>/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-sklearn >/dev/null
fi
/usr/bin/python3 -c 'import sklearn; print("workers python3:", sklearn.__name__, sklearn.__version__)'
export TRAINYARD_REQUIRE_SANDBOX=1 TRAINYARD_REQUIRE_SKLEARN=1
