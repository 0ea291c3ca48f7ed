// Placeholder so the library has a source before tls/*.cc exists.
