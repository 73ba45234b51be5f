"""Search engine: the search space, the weight-sharing supernet, the controller, rewards, the search loop and derive."""
