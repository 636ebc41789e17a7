// Package deploy holds no code: its test checks the Kubernetes manifests in
// deploy/kubernetes and the Dockerfile against the settings the bridge knows.
package deploy
