"""Shared steps of the browser tests."""


def log_in(page, live_server, login):
    """Log in on the admin's login page as a persona (password = user name)."""
    from playwright.sync_api import expect

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", login)
    page.fill("#id_password", login)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_contain_text("SOR-administration")
