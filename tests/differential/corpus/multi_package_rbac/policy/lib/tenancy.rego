package lib.tenancy

# tenant_of has several bodies: explicit tenant, tenant from a resource URN, or from an email domain.
tenant_of(x) := x.tenant if is_object(x)

tenant_of(x) := t if {
	is_string(x)
	startswith(x, "urn:")
	t := split(x, ":")[2]
}

tenant_of(x) := lower(t) if {
	is_string(x)
	not startswith(x, "urn:")
	[_, t] := split(x, "@")
}

same_tenant if tenant_of(input.principal) == tenant_of(input.resource)

cross_tenant_allowed if {
	some pair in data.lib.tenancy_links
	pair == [tenant_of(input.principal), tenant_of(input.resource)]
}
