package agents.urls

url := input.navigate.url

pieces := split(url, "?")

base := pieces[0]

raw_query := concat("?", array.slice(pieces, 1, count(pieces)))

params := urlquery.decode_object(raw_query)

tracking := {k | some k, _ in params; regex.match(`^(utm_|fbclid$|gclid$|mc_)`, k)}

clean_params := object.remove(params, tracking)

clean_url := base if count(clean_params) == 0

else := concat("?", [base, urlquery.encode_object(clean_params)])

redirect_targets contains urlquery.decode(v) if {
	some k, vs in params
	lower(k) in {"next", "redirect", "return_to", "url"}
	some v in vs
}

external_redirects contains t if {
	some t in redirect_targets
	regex.match(`^(?i)(https?:)?//`, t)
	not regex.match(`^(?i)(https?:)?//([a-z0-9-]+\.)*example\.com(/|$)`, t)
}

reasons contains "url must be a string" if not is_string(url)

reasons contains sprintf("open redirect to %s", [t]) if some t in external_redirects

reasons contains "javascript: urls are not allowed" if startswith(lower(trim_space(url)), "javascript:")

default allow := false

allow if count(reasons) == 0

default rewritten := null

rewritten := clean_url

default search := null

search := urlquery.encode(object.get(input.navigate, "search", ""))

default parsed := {}

parsed := params

decision := {
	"allow": allow,
	"reasons": reasons,
	"rewritten": rewritten,
	"params": parsed,
	"tracking_removed": tracking,
	"search_encoded": search,
}
