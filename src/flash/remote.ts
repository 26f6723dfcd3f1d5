/**
 * The shell scripts `flash` runs on a device (POSIX sh, coreutils; `sh -s` over SSH). Layout under
 * the install root:
 *
 * ```
 * fleet.pub                 the fleet's Ed25519 public key (installed at the first flash, never replaced)
 * versions/<id>/            one folder per bundle; versions/.incoming-<id> while uploading
 * current -> versions/<id>  the version that runs; switched (atomically) only after verification
 * previous -> versions/<id> the version a rollback returns to
 * state/ clips/ run/ log/   outbox + remote configuration, event clips, pidfile, runner log
 * ```
 */

const SERVICE = `
stop_service() {
  if [ "$SYSTEMD" = yes ]; then systemctl stop sfn-edge 2>/dev/null || true
  elif [ -x "$ROOT/current/sfn-edge-runner" ]; then "$ROOT/current/sfn-edge-runner" stop >/dev/null
  fi
}
start_service() {
  if [ "$SYSTEMD" = yes ]; then
    install -m 644 "$ROOT/current/sfn-edge.service" /etc/systemd/system/sfn-edge.service &&
      systemctl daemon-reload && systemctl enable sfn-edge >/dev/null 2>&1 && systemctl restart sfn-edge
  else
    "$ROOT/current/sfn-edge-runner" start >/dev/null
  fi
}
switch_to() { # $1 = versions/<id>
  ln -sfn "$1" "$ROOT/current.new" && mv -T "$ROOT/current.new" "$ROOT/current"
}
`;

/** Facts about the device; args: root. Prints key=value lines. */
export const PREFLIGHT = `set -u
ROOT=$1
echo "arch=$(uname -m)"
d=$ROOT; while [ ! -d "$d" ]; do d=$(dirname "$d"); done
echo "free_kb=$(df -Pk "$d" | awk 'NR==2 {print $4}')"
if [ -w "$d" ]; then echo writable=yes; else echo writable=no; fi
if [ -L "$ROOT/current" ]; then echo "current=$(basename "$(readlink "$ROOT/current")")"; fi
if [ -L "$ROOT/previous" ]; then echo "previous=$(basename "$(readlink "$ROOT/previous")")"; fi
if [ -f "$ROOT/fleet.pub" ]; then echo "fleet_pub=$(base64 <"$ROOT/fleet.pub" | tr -d '\\n')"; fi
if [ -f "$ROOT/current/SHA256SUMS" ]; then echo "current_sums=$(base64 <"$ROOT/current/SHA256SUMS" | tr -d '\\n')"; fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ] && [ "$(id -u)" = 0 ]; then echo systemd=yes; else echo systemd=no; fi
`;

/**
 * Creates versions/.incoming-<id> as hard links of the running version's files (`cp -al`), then
 * removes the paths listed on stdin (one a line: files that changed or are gone), so that only
 * changed files travel; without a running version it starts empty. Args: root, id.
 */
export const PREPARE = `set -eu
ROOT=$1; ID=$2
IN="$ROOT/versions/.incoming-$ID"
mkdir -p "$ROOT/versions"
rm -rf "$IN"
if [ -d "$ROOT/current/" ]; then
  cp -al "$ROOT/current/." "$IN" 2>/dev/null || cp -a "$ROOT/current/." "$IN"
  (cd "$IN" && tr '\\n' '\\0' | xargs -0 rm -f --)
else
  mkdir "$IN"
  cat >/dev/null
fi
`;

/** Receives the tar stream on stdin into versions/.incoming-<id>; args: root, id. */
export const RECEIVE = `set -eu
ROOT=$1; ID=$2
if ! tar -xf - -C "$ROOT/versions/.incoming-$ID"; then rm -rf "$ROOT/versions/.incoming-$ID"; exit 1; fi
`;

/**
 * Installs the fleet key at the first flash, verifies the upload with the trusted executable (the
 * running version's, or the new one at the first flash) and moves it to versions/<id>; a bundle
 * that does not verify is deleted (exit 20, the reason on stdout). Args: root, id, fleet public key PEM.
 */
export const VERIFY = `set -u
ROOT=$1; ID=$2; PUB=$3
IN="$ROOT/versions/.incoming-$ID"
if [ ! -f "$ROOT/fleet.pub" ]; then
  printf '%s\\n' "$PUB" >"$ROOT/fleet.pub.tmp" && mv "$ROOT/fleet.pub.tmp" "$ROOT/fleet.pub" && echo "fleet_key=installed"
fi
V="$IN/sfn-edge"
if [ -x "$ROOT/current/sfn-edge" ]; then V="$ROOT/current/sfn-edge"; fi
if ! out=$("$V" flash verify --dir "$IN" --key "$ROOT/fleet.pub" 2>&1); then
  echo "verify=failed"
  printf '%s\\n' "$out" | tail -n 3
  rm -rf "$IN"
  exit 20
fi
echo "verify=ok"
rm -rf "$ROOT/versions/$ID"
mv "$IN" "$ROOT/versions/$ID"
`;

/** Stops the running version, switches current (previous = the old one), starts it. Args: root, id, systemd. */
export const ACTIVATE = `set -u
ROOT=$1; ID=$2; SYSTEMD=$3
${SERVICE}
prev=""
if [ -L "$ROOT/current" ]; then prev=$(basename "$(readlink "$ROOT/current")"); fi
stop_service
if [ -n "$prev" ] && [ "$prev" != "$ID" ]; then ln -sfn "versions/$prev" "$ROOT/previous"; fi
switch_to "versions/$ID" || exit 21
start_service || { echo "start=failed"; exit 22; }
echo "previous=$prev"
echo "start=ok"
`;

/**
 * Stops the failed version, renames it <id>.failed (its runner log tail printed), switches back to
 * previous and starts it. Args: root, failed id, systemd. Exit 23 when there is no previous version.
 */
export const ROLLBACK = `set -u
ROOT=$1; ID=$2; SYSTEMD=$3
${SERVICE}
stop_service
if [ -f "$ROOT/log/sfn-edge.log" ]; then tail -n 5 "$ROOT/log/sfn-edge.log" | sed 's/^/log: /'; fi
if [ ! -L "$ROOT/previous" ]; then echo "rollback=none"; exit 23; fi
prev=$(readlink "$ROOT/previous")
switch_to "$prev" || exit 21
rm -f "$ROOT/previous"
if [ -d "$ROOT/versions/$ID" ]; then rm -rf "$ROOT/versions/$ID.failed"; mv "$ROOT/versions/$ID" "$ROOT/versions/$ID.failed"; fi
start_service || { echo "start=failed"; exit 22; }
echo "current=$(basename "$prev")"
`;

/** Deletes all but the newest `keep` version folders, never current or previous. Args: root, keep. */
export const PRUNE = `set -u
ROOT=$1; KEEP=$2
cur=$(basename "$(readlink "$ROOT/current" 2>/dev/null)" 2>/dev/null)
prev=$(basename "$(readlink "$ROOT/previous" 2>/dev/null)" 2>/dev/null)
n=0
for v in $(ls -1t "$ROOT/versions"); do
  case "$v" in .incoming-*) continue ;; esac
  n=$((n + 1))
  if [ "$v" = "$cur" ] || [ "$v" = "$prev" ] || [ $n -le "$KEEP" ]; then continue; fi
  rm -rf "$ROOT/versions/$v" && echo "pruned=$v"
done
`;

/** Parses `key=value` lines into a record (later keys win). */
export function parseKv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0 && /^[a-z_]+$/.test(line.slice(0, i))) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}
