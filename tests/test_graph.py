import torch

from fmat.envs import make_env


def test_synthetic_grid_neighbours():
    env = make_env("grid-4x4")
    g = env.graph
    assert g.agents == tuple(env.possible_agents)
    assert g.edge_index.dtype == torch.long and g.edge_index.shape[0] == 2
    index = {a: i for i, a in enumerate(g.agents)}
    # netgenerate names grid junctions column letter + row digit: A0 is a corner, B1 interior
    assert len(g.neighbours(index["A0"])) == 2
    assert len(g.neighbours(index["B1"])) == 4
    assert len(g.neighbours(index["B0"])) == 3
    assert sorted(g.agents[j] for j in g.neighbours(index["B1"])) == ["A1", "B0", "B2", "C1"]
    degrees = g.degrees()
    assert sorted(degrees.tolist()) == [2] * 4 + [3] * 8 + [4] * 4
    # both directions of each pair; length is the road between the junctions (200 m apart centre
    # to centre, less the junction areas)
    pairs = set(map(tuple, g.edge_index.t().tolist()))
    assert all((b, a) in pairs for a, b in pairs)
    assert torch.allclose(g.edge_length, g.edge_length[0].expand_as(g.edge_length))
    assert 150 < g.edge_length[0] < 200
    env.close()


def test_resco_grid_matches_its_layout():
    g = make_env("grid4x4").graph
    assert sorted(g.degrees().tolist()) == [2] * 4 + [3] * 8 + [4] * 4


def test_unsignalised_junctions_are_traversed():
    # cologne8 links several signals through unsignalised junctions; every signal has a neighbour
    g = make_env("cologne8").graph
    assert g.num_nodes == 8
    assert (g.degrees() >= 1).all()
    assert g.edge_index.shape[1] == 2 * len({tuple(sorted(p)) for p in g.edge_index.t().tolist()})
