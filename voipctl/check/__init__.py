"""`voipctl check`: does every daemon accept the config rendered for it?

The orchestrator is `voipctl.check.orchestrator` (`check_tree`). This file imports
nothing on purpose: `python -m voipctl.check.sandbox` runs inside each throwaway
namespace before its daemon starts, and every module imported here would delay
every daemon of every check (pydantic and cryptography cost 0.6-1.4 s under load).
"""
