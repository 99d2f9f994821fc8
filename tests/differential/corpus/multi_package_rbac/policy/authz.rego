package agents.authz

import data.lib.roles
import data.lib.tenancy

tool := input.tool

default tool_granted := false

tool_granted if tool in roles.granted

tool_granted if "*" in roles.granted

default tenant_ok := false

tenant_ok if tenancy.same_tenant

tenant_ok if tenancy.cross_tenant_allowed

reasons contains sprintf("tool %v is not granted to roles %v", [tool, roles.principal_roles]) if not tool_granted

reasons contains "cross-tenant access" if not tenant_ok

reasons contains "principal is suspended" if input.principal.suspended == true

default allow := false

allow if count(reasons) == 0

level := "admin" if {
	roles.is_admin
} else := "elevated" if {
	count(roles.principal_roles) > 2
} else := "basic" if {
	count(roles.principal_roles) > 0
} else := "none"

decision := {
	"allow": allow,
	"reasons": reasons,
	"level": level,
	"roles": roles.principal_roles,
	"tools_by_role": roles.tools_by_role,
	"tenant": tenant,
}

default tenant := null

tenant := tenancy.tenant_of(input.principal)
