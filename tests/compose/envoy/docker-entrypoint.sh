#!/bin/sh
# What the official image's entrypoint does, written for the stand-in: arguments that start
# with '-' are Envoy's; `loglevel` adds --log-level; started as root, Envoy runs as the
# unprivileged user envoy (uid 101, or ENVOY_UID/ENVOY_GID), which is why a module that is
# not world-readable cannot be loaded.
set -e
if [ "${1#-}" != "$1" ]; then
  set -- envoy "$@"
fi
if [ "$1" = envoy ] && [ -n "${loglevel:-}" ]; then
  set -- "$@" --log-level "$loglevel"
fi
if [ "$(id -u)" = 0 ] && [ "${ENVOY_UID:-101}" != 0 ]; then
  chown "${ENVOY_UID:-101}:${ENVOY_GID:-101}" /dev/stdout /dev/stderr 2>/dev/null || true
  exec setpriv --reuid="${ENVOY_UID:-101}" --regid="${ENVOY_GID:-101}" --clear-groups "$@"
fi
exec "$@"
