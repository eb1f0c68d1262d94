package layout

// Grants are the object key patterns, each ending in the wildcard "*" that IAM policies and
// S3's s3:prefix condition use, that a tenant's own credentials are granted under its prefix.
type Grants struct {
	// Objects matches every object of the tenant: it may create, read and list them all.
	Objects string
	// Deletable matches the only objects it may delete: the lakehouse's parts and segments,
	// which its compaction replaces by bigger ones (it deletes one only once every block of it is
	// durable in another). Standalone blocks and process records are create-only forever; their
	// retention is the bucket's lifecycle rule.
	Deletable []string
}

// PolicyResources are the grants of a tenant whose objects live under tenantPrefix ("" for a
// bucket of its own, or ending in "/").
func PolicyResources(tenantPrefix string) Grants {
	return Grants{
		Objects:   ReadOnlyResources(tenantPrefix),
		Deletable: []string{tenantPrefix + TablesPrefix + "/*", tenantPrefix + SegmentsPrefix + "/*"},
	}
}

// ReadOnlyResources is the one pattern a tenant's read-only key (the query server's, issue 15)
// may read and list: every object of the tenant, as a query reads blocks, segments, parts and
// process records alike. It may create and delete nothing, so a query server that is broken
// into cannot change or erase the lake.
func ReadOnlyResources(tenantPrefix string) string {
	return tenantPrefix + "*"
}
