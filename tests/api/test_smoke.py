ME = "{ me { email name roles manager { email } } }"


async def test_me_returns_the_signed_in_user_with_manager(gql):
    # when
    result = await gql(ME, as_="rep1@demo.test")
    # then
    assert result["data"]["me"] == {"email": "rep1@demo.test", "name": "李娜 (Rep 1)", "roles": ["sales_rep"],
                                    "manager": {"email": "manager@demo.test"}}


async def test_request_without_token_is_unauthenticated(gql):
    result = await gql(ME, as_=None)
    [error] = result["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
