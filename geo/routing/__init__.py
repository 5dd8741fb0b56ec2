"""Inspectors' field routes (issue 9): pure computation, no database.

==================  ========================================================================
``sampling``        which households: seeded random, stratified by village, risk-based
``matrix``          door-to-door minutes between stops on the road network, leg geometry
``tsp``             the TSP core: Or-opt/2-opt iterated local search
``vrp``             K inspectors × D days: VROOM (or OR-Tools) construction + our ILS
``explain``         why a household could not be fitted, with the numbers
``plan``            households + roads + options → a RoutePlan (stops, days, depots)
``export``          GPX 1.1, KML, GeoJSON
``sheets``          household lists in, the results sheet out and back in
``policy``          the ``[routes]`` section of the policy profile
==================  ========================================================================
"""
