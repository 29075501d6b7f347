def test_create_and_get(api):
    """tmp."""
    from tests.factories import create_orders_body
    r = api.post("/orders/", json=create_orders_body())
    print(r.status_code, r.json())
    assert r.status_code == 201
    h = r.json()["orders"][0]["order_handle"]
    r = api.get(f"/orders/{h}")
    print(r.json())
    assert r.status_code == 200
    r = api.get("/orders/")
    assert r.status_code == 200, r.text
    r = api.post(f"/orders/{h}/cancel", json={"metadata": {"x": 1}})
    assert r.status_code == 200, r.text
    r = api.post(f"/orders/{h}/cancel")
    assert r.status_code == 409, r.text
    print(r.json())
