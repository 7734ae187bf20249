# Sourced: backend_token SECRET SUB prints a backend JWT (HS256 over the gateway's shared
# secret, scope "backend", valid for a day) for curl calls to the gateway.
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
backend_token() {
  local secret="$1" sub="$2" header claims signature
  header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
  claims=$(printf '{"sub":"%s","scope":"backend","exp":%d}' "$sub" \
    "$(($(date +%s) + 86400))" | b64url)
  signature=$(printf '%s.%s' "$header" "$claims" |
    openssl dgst -sha256 -hmac "$secret" -binary | b64url)
  printf '%s.%s.%s\n' "$header" "$claims" "$signature"
}
