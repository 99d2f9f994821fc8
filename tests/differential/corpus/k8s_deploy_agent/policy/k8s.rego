package agents.k8s

cfg := data.k8s

spec := object.get(input.manifest, ["spec", "template", "spec"], {})

containers := array.concat(object.get(spec, "initContainers", []), object.get(spec, "containers", []))

image_parts(img) := {"repo": parts[1], "tag": parts[2], "digest": parts[3]} if {
	parts := regex.find_all_string_submatch_n(`^([^:@]+)(?::([^@]+))?(?:@(sha256:[a-f0-9]{64}))?$`, img, 1)[0]
}

from_allowed_registry(img) if {
	some pattern in cfg.registries
	glob.match(pattern, ["/"], image_parts(img).repo)
}

reasons contains sprintf("container %v: image %v is not from an allowed registry", [c.name, c.image]) if {
	some c in containers
	not from_allowed_registry(c.image)
}

reasons contains sprintf("container %v: image must be pinned by digest", [c.name]) if {
	some c in containers
	image_parts(c.image).digest == ""
}

reasons contains sprintf("container %v: banned image pattern %v", [c.name, p]) if {
	some c in containers
	some p in cfg.banned_images
	glob.match(p, [], c.image)
}

reasons contains sprintf("container %v is privileged", [c.name]) if {
	some c in containers
	object.get(c, ["securityContext", "privileged"], false) == true
}

reasons contains sprintf("container %v has no memory limit", [c.name]) if {
	some c in containers
	not object.get(c, ["resources", "limits", "memory"], null)
}

reasons contains "hostPath volumes are not allowed" if {
	walk(spec, [path, value])
	path[count(path) - 1] == "hostPath"
	value != null
}

reasons contains sprintf("missing label %s", [l]) if {
	some l in cfg.required_labels
	not object.get(input.manifest, ["metadata", "labels", l], null)
}

reasons contains "no containers" if count(containers) == 0

default allow := false

allow if count(reasons) == 0

images := [object.get({"i": image_parts(c.image)}, "i", null) | some c in containers]

decision := {"allow": allow, "reasons": reasons, "images": images, "container_count": count(containers)}
