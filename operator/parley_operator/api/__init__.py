"""The ChatPlatform API types (parley.dev/v1alpha1): spec and status models, the source of the CRD."""

GROUP = "parley.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ChatPlatform"
PLURAL = "chatplatforms"
SINGULAR = "chatplatform"
SHORT_NAMES = ("chat", "cp")
