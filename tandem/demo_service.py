"""Demo data for the service desk: the sales queue worked by the sales team, a service team for the service
queue, and tickets in every state, one handed from service to sales."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.domain.service.queue import Department, queue_of_department, set_queue_team
from tandem.domain.service.ticket import (
    Channel,
    Priority,
    TicketInput,
    TicketStatus,
    assign_ticket,
    create_ticket,
    hand_off_ticket,
    reply_to_ticket,
    resolve_ticket,
    update_ticket,
)
from tandem.domain.shared.actor import Actor
from tandem.domain.tenancy.org import create_team
from tandem.domain.tenancy.user import User


async def seed_service(session: AsyncSession, service: Actor, service_user: User, sales_team_id: int | None,
                       customers: list[tuple[int, int]]) -> None:
    """``customers``: (customer id, contact id) pairs, the first two at least."""
    team = await create_team(session, service.org_id, "客服中心 Service desk")
    service_user.team_id = team.id
    await session.flush()
    service = Actor(user_id=service.user_id, org_id=service.org_id, roles=service.roles, email=service.email,
                    team_id=team.id)
    service_queue = await queue_of_department(session, service.org_id, Department.SERVICE)
    sales_queue = await queue_of_department(session, service.org_id, Department.SALES)
    assert service_queue is not None and sales_queue is not None
    await set_queue_team(session, service, service_queue.id, team.id)
    await set_queue_team(session, service, sales_queue.id, sales_team_id)
    (c1, p1), (c2, p2) = customers[0], customers[1]

    async def ticket(customer: int, contact: int, subject: str, description: str, channel: Channel,
                     priority: Priority = Priority.NORMAL) -> int:
        made = await create_ticket(session, service, TicketInput(
            customer_id=customer, contact_id=contact, subject=subject, description=description, channel=channel,
            priority=priority, assignee_id=service.user_id))
        return made.id

    await ticket(c1, p1, "ERP 登录后报表页面空白", "用户反馈登录后财务报表页面一片空白，清缓存无效。", Channel.EMAIL,
                 Priority.HIGH)
    opened = await ticket(c2, p2, "手机银行 App 推送延迟", "推送通知延迟约 10 分钟。", Channel.PHONE)
    await reply_to_ticket(session, service, opened, "您好，我们已收到问题，正在排查推送服务。", internal=False)
    await reply_to_ticket(session, service, opened, "疑似消息队列积压，已联系交付团队。", internal=True)
    waiting = await ticket(c1, p1, "Export to Excel garbles Chinese names", "CSV opened in Excel shows 乱码.",
                           Channel.WEB, Priority.LOW)
    t = await reply_to_ticket(session, service, waiting, "Could you send us a sample file?", internal=False)
    await update_ticket(session, service, waiting, t[0].version, TicketInput(
        status=TicketStatus.PENDING_CUSTOMER, set_fields={"status"}))
    upsell = await ticket(c2, p2, "需要增加 200 个用户许可", "客户希望扩容到 500 用户，询问价格。", Channel.CHAT)
    await hand_off_ticket(session, service, upsell, sales_queue.id, "扩容询价：销售机会 Upsell: more licences",
                          "客户 IT 总监下周出差，请尽快联系。")
    solved = await ticket(c1, p1, "VPN 证书过期", "VPN certificate expired this morning.", Channel.VISIT,
                          Priority.URGENT)
    await resolve_ticket(session, service, solved, "已续签证书并推送到所有终端。Certificate renewed and deployed.")
    closed = await ticket(c2, p2, "发票抬头修改", "Invoice title needs the new company name.", Channel.EMAIL)
    done = await resolve_ticket(session, service, closed, "已按新抬头重开发票。")
    await update_ticket(session, service, closed, done.version, TicketInput(status=TicketStatus.CLOSED,
                                                                            set_fields={"status"}))
    await assign_ticket(session, service, opened, service.user_id)
