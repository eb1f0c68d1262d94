// Package docs holds the repository's documentation, and a test that keeps its links inside the
// repository: every relative Markdown link must resolve to a file (and heading) that is there,
// and no tracked file may cite a document outside the repository, as the contracts once were.
// It has no code of its own and must never gain any.
package docs
