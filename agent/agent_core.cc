// Anchor translation unit for tide_agent_core.
