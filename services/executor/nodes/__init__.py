"""The node library: every module here defines `Node` subclasses; the registry finds them by `type`."""
