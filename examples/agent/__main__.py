"""``python -m examples.agent``: run the capture agent."""

from examples.agent.agent import main

main()
