"""`certrotate`: the operator's command line, powered by the same layer as the functions.

It lives outside the Lambda layer on purpose: the functions never import it (nor `rich`), so it adds
nothing to their package size or cold start; what it shares with them (the decisions, adapters, the endpoint
check) comes from the layer package `certrotate`.
"""
