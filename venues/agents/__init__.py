"""Agent-based markets: populations of simulated traders as simpy processes.

See :mod:`venues.agents.populations` (the agents), :mod:`venues.agents.fundamental`
(the exogenous news / fundamental process) and :mod:`venues.agents.market`
(wiring, ids, report routing, sampling). :mod:`venues.agents.stylized` measures
stylized facts of the resulting prices.
"""

from venues.agents.config import AgentPopulationConfig, AgentVenueConfig
from venues.agents.market import AGENT_ORDER_BASE, AGENT_OWNER_BASE, AgentMarket

__all__ = ["AGENT_ORDER_BASE", "AGENT_OWNER_BASE", "AgentMarket", "AgentPopulationConfig", "AgentVenueConfig"]
