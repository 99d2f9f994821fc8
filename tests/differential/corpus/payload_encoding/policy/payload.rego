package agents.payload

att := input.attachment

encoding := object.get(att, "encoding", "base64")

decoded := base64.decode(att.data) if encoding == "base64"

decoded := base64url.decode(att.data) if encoding == "base64url"

decoded := hex.decode(att.data) if encoding == "hex"

decoded := att.data if encoding == "plain"

is_json if json.is_valid(decoded)

body := json.unmarshal(decoded) if is_json

body_type := type_name(body)

checks := {
	"is_object": is_object(body),
	"is_array": is_array(body),
	"is_string": is_string(body),
	"is_number": is_number(body),
	"is_boolean": is_boolean(body),
	"is_null": is_null(body),
	"is_set": is_set(body),
}

reasons contains "attachment data must be a string" if not is_string(att.data)

reasons contains sprintf("unsupported encoding %v", [encoding]) if not encoding in {"base64", "base64url", "hex", "plain"}

reasons contains "payload is not valid JSON" if not is_json

reasons contains sprintf("payload must be a JSON object, got %s", [body_type]) if body_type != "object"

reasons contains "payload too large" if count(decoded) > 256

reasons contains "script tags are not allowed" if contains(lower(decoded), "<script")

default allow := false

allow if count(reasons) == 0

default info := {}

info := {
	"type": body_type,
	"checks": checks,
	"canonical": json.marshal(body),
	"canonical_b64": base64.encode(json.marshal(body)),
	"canonical_b64url": base64url.encode(json.marshal(body)),
	"canonical_hex": hex.encode(json.marshal(body)),
	"length": count(decoded),
}

default fingerprint := null

fingerprint := base64url.encode_no_pad(substring(decoded, 0, 16))

decision := {"allow": allow, "reasons": reasons, "info": info, "fingerprint": fingerprint}
