//go:build tools

// Package tools pins the MetalLB commands this module builds.
package tools

import (
	_ "go.universe.tf/metallb/controller"
	_ "go.universe.tf/metallb/speaker"
)
