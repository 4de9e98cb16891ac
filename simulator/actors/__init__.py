"""Actor kinds.  Each draws itself with Canvas primitives and labels what it draws."""

from simulator.actors.base import Actor, Ctx
from simulator.actors.boat import Boat
from simulator.actors.cart import Cart
from simulator.actors.motorbike import Motorbike
from simulator.actors.person import Person
from simulator.actors.rodstand import RodStand
from simulator.actors.stall import Stall
from simulator.actors.vehicle import Vehicle

KINDS: dict[str, type[Actor]] = {"person": Person, "boat": Boat, "stall": Stall, "cart": Cart, "vehicle": Vehicle,
                                 "rod_stand": RodStand, "motorbike": Motorbike}


def build_actor(spec, ctx: Ctx, duration_s: float) -> Actor:
    return KINDS[spec.kind](spec, ctx, duration_s)


__all__ = ["KINDS", "Actor", "Ctx", "build_actor"]
