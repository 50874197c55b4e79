#!/usr/bin/env bash
# `nginx -t` on deploy/nginx/cloister.conf, inside a throwaway nginx.conf with a self-signed
# certificate in place of the real one, so nothing of the machine's nginx is used or changed.
# Exit 77 (skipped) without nginx or openssl.
# Usage: nginx_check.sh EXAMPLE_CONF CONFIG_H   (app/include/cloister/app/config.h: the default
#   of server.max_upload_bytes, the upload limit serve applies)
set -euo pipefail
example=$1 config_h=$2
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x "$nginx" ]] || { echo "SKIP: nginx not installed (apt-get install nginx)"; exit 77; }
command -v openssl >/dev/null || { echo "SKIP: openssl not installed"; exit 77; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/logs" "$work/tmp"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=cloister.example.internal" \
  -keyout "$work/cloister.key" -out "$work/cloister.crt" 2>/dev/null
sed -e "s#/etc/ssl/cloister/#$work/#g" "$example" >"$work/cloister.conf"
cat >"$work/nginx.conf" <<CONF
pid $work/nginx.pid;
error_log $work/logs/error.log;
events {}
http {
    access_log off;
    client_body_temp_path $work/tmp/body;
    proxy_temp_path $work/tmp/proxy;
    fastcgi_temp_path $work/tmp/fastcgi;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;
    include $work/cloister.conf;
}
CONF
if ! "$nginx" -t -q -p "$work" -c "$work/nginx.conf"; then
  echo "FAIL: nginx -t rejects $example" >&2
  exit 1
fi
# The settings the guide relies on are there (docs/air-gapped.md, "TLS with nginx").
for setting in "proxy_buffering off" "client_max_body_size" "X-Forwarded-Proto" \
               "proxy_cookie_flags cloister_session secure"; do
  grep -q "$setting" "$example" || { echo "FAIL: $example lacks $setting" >&2; exit 1; }
done
# nginx must let through every upload Cloister accepts (Cloister answers larger ones itself).
upload_mib=$(sed -n 's/.*max_upload_bytes = \([0-9]*\)ull << 20;.*/\1/p' "$config_h")
body_mib=$(sed -n 's/^ *client_max_body_size \([0-9]*\)m;.*/\1/p' "$example")
if [[ -z "$upload_mib" || -z "$body_mib" ]] || ((body_mib <= upload_mib)); then
  echo "FAIL: client_max_body_size ${body_mib:-?}m must exceed Cloister's upload limit ${upload_mib:-?} MiB" >&2
  exit 1
fi
echo "PASS: nginx -t accepts $example (body limit ${body_mib}m over Cloister's ${upload_mib} MiB)"
