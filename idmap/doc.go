// Package idmap works out the caller's subordinate ID ranges (/etc/subuid,
// /etc/subgid) and the uid_map and gid_map of the sandbox's user namespace, and
// writes them with the setuid helpers newuidmap and newgidmap.
//
// Runs in the parent (host user namespace). Everything but Apply is pure.
package idmap
