"""Planned home services: the menu, orders, routes and the care bureau's closed loop.

request → approval → scheduled visit → planned route → service → follow-up → statement.
Pure rules (recurrence, billing, coverage, follow-up sampling, the routing problem)
sit beside the modules that read and write the database (orders, planner, visits).
"""
