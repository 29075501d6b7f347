"""The solvers the planner is compared with, all fed the same DIMACS integer data.

Each returns routes as lists of customer numbers (1..n); distances are recomputed by the
caller from the shared matrix so that every solver is scored the same way.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from solomon import SolomonInstance, dimacs_matrix

Routes = list[list[int]]


def solve_pyvrp(instance: SolomonInstance, budget_s: float, seed: int) -> Routes:
    """Plain PyVRP: its own Model with required clients and one vehicle type, same budget."""
    from pyvrp import Model
    from pyvrp.stop import MaxRuntime

    matrix = dimacs_matrix(instance)
    model = Model()
    coordinates = zip(instance.x, instance.y, strict=True)
    places = [model.add_location(x=float(x), y=float(y)) for x, y in coordinates]
    depot = model.add_depot(places[0], tw_early=instance.ready[0], tw_late=instance.due[0])
    model.add_vehicle_type(
        num_available=instance.num_vehicles,
        capacity=instance.capacity,
        start_depot=depot,
        end_depot=depot,
        tw_early=instance.ready[0],
        tw_late=instance.due[0],
    )
    for i in range(1, len(places)):
        model.add_client(
            places[i],
            delivery=instance.demand[i],
            service_duration=instance.service[i],
            tw_early=instance.ready[i],
            tw_late=instance.due[i],
        )
    for i, frm in enumerate(places):
        for j, to in enumerate(places):
            if i != j:
                value = int(matrix[i, j])
                model.add_edge(frm, to, distance=value, duration=value)
    result = model.solve(MaxRuntime(budget_s), seed=seed, display=False)
    # Client k of the model is customer k + 1; PyVRP numbers clients after the depot location.
    return [
        [activity.idx + 1 for activity in route if activity.is_client()]
        for route in result.best.routes()
    ]


def solve_ortools(instance: SolomonInstance, budget_s: float, seed: int) -> Routes:
    """OR-Tools routing with guided local search for the same wall time."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    del seed  # OR-Tools routing search is deterministic given its parameters
    matrix = dimacs_matrix(instance)
    size = len(instance.x)
    manager = pywrapcp.RoutingIndexManager(size, instance.num_vehicles, 0)
    routing = pywrapcp.RoutingModel(manager)
    arc = routing.RegisterTransitMatrix(matrix.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(arc)
    # Time spent from i to j is the service at i plus the drive.
    service = np.asarray(instance.service, dtype=np.int64)[:, None]
    travel = routing.RegisterTransitMatrix((matrix + service).tolist())
    horizon = instance.due[0]
    routing.AddDimension(travel, horizon, horizon, False, "time")
    time = routing.GetDimensionOrDie("time")
    for node in range(1, size):
        time.CumulVar(manager.NodeToIndex(node)).SetRange(instance.ready[node], instance.due[node])
    for vehicle in range(instance.num_vehicles):
        time.CumulVar(routing.Start(vehicle)).SetRange(instance.ready[0], horizon)
        time.CumulVar(routing.End(vehicle)).SetRange(instance.ready[0], horizon)
    # Visits may be skipped at a prohibitive price: with tight windows the first-solution
    # heuristic otherwise often finds nothing at all; guided local search then inserts them.
    skip_penalty = 100 * int(matrix.max()) * size
    for node in range(1, size):
        routing.AddDisjunction([manager.NodeToIndex(node)], skip_penalty)
    demand = routing.RegisterUnaryTransitVector(list(instance.demand))
    routing.AddDimensionWithVehicleCapacity(
        demand, 0, [instance.capacity] * instance.num_vehicles, True, "load"
    )
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(int(budget_s * 1000))
    solution = routing.SolveWithParameters(params)
    if solution is None:
        return []
    routes: Routes = []
    for vehicle in range(instance.num_vehicles):
        index = routing.Start(vehicle)
        visits: list[int] = []
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            if node != 0:
                visits.append(node)
            index = solution.Value(routing.NextVar(index))
        if visits:
            routes.append(visits)
    return routes


def solve_vroom(instance: SolomonInstance, budget_s: float, seed: int) -> Routes:
    """VROOM (pyvroom) at its highest exploration level, one thread, with the budget as timeout."""
    import vroom

    del seed  # VROOM has no seed
    matrix = dimacs_matrix(instance)
    problem = vroom.Input()
    problem.set_durations_matrix("car", matrix)
    problem.set_costs_matrix("car", matrix)
    window = vroom.TimeWindow(instance.ready[0], instance.due[0])
    for k in range(instance.num_vehicles):
        problem.add_vehicle(
            vroom.Vehicle(k, start=0, end=0, capacity=[instance.capacity], time_window=window)
        )
    for i in range(1, len(instance.x)):
        problem.add_job(
            vroom.Job(
                i,
                location=i,
                default_service=instance.service[i],
                delivery=[instance.demand[i]],
                time_windows=[vroom.TimeWindow(instance.ready[i], instance.due[i])],
            )
        )
    solution = problem.solve(
        exploration_level=5, nb_threads=1, timeout=timedelta(seconds=budget_s)
    )
    return [
        [step["id"] for step in route["steps"] if step["type"] == "job"]
        for route in solution.to_dict()["routes"]
    ]
