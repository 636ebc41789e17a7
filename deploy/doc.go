// Package deploy holds no code: its tests render the Kubernetes manifests in
// deploy/kubernetes (kustomize) and the Helm chart in deploy/helm, decode
// every object strictly into the Kubernetes API types and check them, and
// the Dockerfile, against the settings the bridge knows. Only these tests
// import Kubernetes, kustomize and Helm: the bridge's binary does not.
package deploy
