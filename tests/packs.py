"""Build small knowledge packs on disk for tests."""

from __future__ import annotations

from pathlib import Path

SHOP_YAML = """\
id: {shop_id}
name: {name}
platform: taobao
agent_name: 小美
policy:
  price_adjustable: false
  max_discount_percent: 0
  free_shipping_min_order: 59
  gifts:
    allowed: [清洁刷一把]
    max_per_order: 1
  compensation_max_cny: 10
  dispatch_within_hours: 24
  carriers: [韵达快递]
  delivery_days: {{same_province: "1-2", other: "3-4"}}
  returns:
    no_reason_days: 7
    condition: 不影响二次销售
    quality_issue_shipping_paid_by: seller
    no_reason_shipping_paid_by: buyer
  escalation_to: 店长
"""

PRODUCTS_CSV = """\
id,name,aliases,price,power,capacity,warranty,stock
K01,迷你破壁料理机,破壁机|料理机,299,800W,600ml,整机保修一年,35
K02,家用电饭煲 3L,电饭锅|饭煲,199,500W,3L,整机保修一年,120
K03,不锈钢电热水壶,烧水壶|热水壶,89,1500W,1.7L,保修半年,0
"""

HANDBOOK = """\
# 厨房小电售后话术

## 保修怎么算 {#warranty intent=return_exchange}
买家问保修时,说明保修期从签收日算起,凭订单号即可申请,不需要纸质发票。

## 机器不通电 {#no-power intent=quality_issue}
先请买家确认插座有电、底座卡扣到位;仍不通电就请拍一段视频,我们安排换新。
"""


def write_pack(root: Path, shop_id: str = "kitchen-mini", name: str = "小厨电器专营店",
               products: str = PRODUCTS_CSV, handbook: str = HANDBOOK) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "shop.yaml").write_text(SHOP_YAML.format(shop_id=shop_id, name=name), encoding="utf-8")
    (root / "products.csv").write_text(products, encoding="utf-8")
    (root / "handbook").mkdir(exist_ok=True)
    (root / "handbook" / "after-sales.md").write_text(handbook, encoding="utf-8")
    return root
