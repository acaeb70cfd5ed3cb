// Anchor translation unit for tide_daemon_core.
