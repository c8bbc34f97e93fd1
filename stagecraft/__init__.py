"""The tools around the Pulumi program in infra/: plan, diff, cost, report, gate, env.

Nothing here runs during `pulumi up`; the program never imports this package.
"""
