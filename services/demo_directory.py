"""Demo data of the service directory (科技大市场, issue 21 part 2): a dozen providers of each kind around Xi'an,
entered by demo provider accounts through the same services as the forms and approved by the demo broker (two
wait in the review queue). The pilot platforms include a Micro LED display line that the demo demand d020 (a
Micro LED 中试线) is shown on its match page, and a titanium-alloy pilot base for d001. Contacts are fictitious."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from models import OrgKind, Role, User

from . import accounts, directory

DEMO_PROVIDER_LOGIN = "provider@demo.example.cn"
# Shaanxi places of the region tree (demo_data/region_tree.json), Xi'an first
PLACES = ("xian_gaoxin", "xian_yanta", "xian_beilin", "xian_changan", "xian_jingkai", "xian_hangtian",
          "xian_weiyang", "xixian", "xianyang", "baoji_gaoxin", "xian", "shaanxi")

# kind -> rows (name, field codes, description, services, equipment, capacity)
PILOT = [
    ("西安光电显示中试平台", ["photonics.display"], "面向Micro LED与新型显示的中试平台，提供巨量转移、坏点检测与修复工艺的中试验证和小批量试生产。",
     "Micro LED 巨量转移中试、模组试生产、良率分析", "巨量转移设备、激光修复机、AOI自动光学检测", "月产能1500片模组；提前2周预约"),
    ("宝鸡钛合金材料中试基地", ["new_materials.metal"], "钛及钛合金熔炼、锻造与热处理中试放大，支撑大规格棒材组织均匀性工艺验证。",
     "真空自耗熔炼、锻造中试、组织检测", "3吨真空自耗电弧炉、2000吨快锻机", "每月2炉次；按季度排产"),
    ("秦创原新能源电池中试线", ["new_energy.battery"], "锂离子电池与固态电池正负极材料、电芯的中试放大与试生产。",
     "材料放大、软包电芯试制、循环测试", "涂布机、卷绕机、化成分容柜", "日产软包电芯500只"),
    ("西咸氢能装备中试平台", ["hydrogen_storage.h2_production"], "碱性与PEM电解槽电堆中试，宽功率波动工况模拟。",
     "电堆组装、工况模拟测试", "500kW电解槽测试台", "每月3个电堆"),
    ("航天复合材料构件中试中心", ["aerospace.aero_structure", "new_materials.composite"], "碳纤维复合材料构件成型与制孔工艺中试。",
     "热压罐成型、自动铺丝、叠层制孔试验", "4米热压罐、自动铺丝机", "按项目预约"),
    ("陕西生物医药中试基地", ["biomedicine.biologics", "biomedicine.chemical_drugs"], "抗体与原料药工艺放大，GMP条件下的中试生产。",
     "细胞培养工艺放大、制剂试生产", "200L/500L一次性生物反应器", "排期约1个月"),
    ("西安增材制造中试平台", ["smart_manufacturing.additive"], "金属增材制造工艺开发与小批量试生产。",
     "激光选区熔化、定向能量沉积试制", "多台SLM设备", "每周开放预约"),
    ("咸阳绿色化工中试基地", ["green_chemical.catalysis", "green_chemical.fine_chemicals"], "催化与精细化工工艺中试放大。",
     "连续流反应放大、分离纯化中试", "100L连续流反应装置", "按月排产"),
    ("西安半导体工艺中试线", ["next_gen_it.ic"], "功率半导体与MEMS工艺中试流片。", "光刻、刻蚀、封装中试",
     "6英寸工艺线", "每月50片"),
    ("长安光伏组件中试平台", ["new_energy.photovoltaic"], "钙钛矿与异质结光伏组件中试。", "组件试制、可靠性测试",
     "层压机、稳态光源", "每周20块组件"),
    ("西安食品加工中试车间", ["agriculture.food_processing"], "功能食品与发酵产品中试生产。", "发酵放大、喷雾干燥",
     "5吨发酵罐", "按批次预约"),
    ("经开区智能装备中试平台", ["smart_manufacturing.industrial_robot", "smart_manufacturing.machining"],
     "机器人与精密加工装备样机试制与中试验证。", "样机装配、热变形测试", "五轴加工中心、激光干涉仪", "按项目预约"),
]
POC = [(f"{name}概念验证中心", [code], f"为{topic}方向的早期成果提供概念验证、原型开发与市场验证资助。",
        "原型开发、技术验证、商业化评估", "原型加工与测试设备", "每年两批，每批10个项目")
       for name, code, topic in (
           ("西安交大", "smart_manufacturing.additive", "先进制造"), ("西工大", "aerospace.uav", "无人机"),
           ("西电", "next_gen_it.communication", "通信"), ("长安大学", "smart_vehicle.autonomous", "智能网联汽车"),
           ("陕师大", "new_energy.photovoltaic", "光伏"), ("西北大学", "biomedicine.tcm", "中药"),
           ("西安理工", "new_energy.smart_grid", "智能电网"), ("陕科大", "green_chemical.fine_chemicals", "轻工化工"),
           ("西建大", "ecology.water", "水处理"), ("西农", "agriculture.breeding", "育种"),
           ("光机所", "photonics.laser", "激光"), ("秦创原", "ai.vision", "人工智能"))]
LAB = [(f"{name}检测中心", [code], f"{topic}的检测、测试与认证服务，具备CMA/CNAS资质。", "委托检测、型式试验、认证咨询",
        f"{topic}专用检测设备", "常规项目5个工作日出报告")
       for name, code, topic in (
           ("陕西动力电池", "new_energy.battery", "动力电池安全与性能"), ("西安光电器件", "photonics.display", "显示与光电器件"),
           ("陕西材料", "new_materials.metal", "金属材料成分与组织"), ("西安航空", "aerospace.propulsion", "航空部件"),
           ("陕西医疗器械", "medical_devices.ivd", "体外诊断试剂与器械"), ("西安电子产品", "next_gen_it.ic", "电子元器件可靠性"),
           ("陕西环境", "ecology.monitoring", "环境监测"), ("陕西食品药品", "biomedicine.chemical_drugs", "药品质量"),
           ("西安汽车零部件", "smart_vehicle.lightweight", "汽车零部件"), ("陕西计量", "smart_manufacturing.inspection", "计量校准"),
           ("西安网络安全", "next_gen_it.security", "网络安全测评"), ("陕西氢能", "hydrogen_storage.h2_storage", "储氢容器"))]
AGENCY = [(f"{name}技术转移中心", [code], f"专注{topic}领域的技术转移、成果评价与技术经纪服务。", "技术经纪、成果评价、合同登记辅导",
           "", "") for name, code, topic in (
    ("西安交大国家", "smart_manufacturing.machining", "先进制造"), ("西工大", "aerospace.aero_structure", "航空航天"),
    ("西电", "next_gen_it.communication", "电子信息"), ("西北大学", "biomedicine.tcm", "生物医药"),
    ("陕西省", "new_materials.metal", "新材料"), ("西安科技大市场", "ai.decision", "人工智能"),
    ("长安大学", "smart_vehicle.electric_drive", "交通"), ("西农", "agriculture.smart_agri", "农业"),
    ("西安理工", "new_energy.wind", "能源"), ("中科院西安分院", "photonics.precision_optics", "光学"),
    ("陕科大", "green_chemical.separation", "化工"), ("航天基地", "aerospace.satellite", "商业航天"))]
IP = [(f"{name}知识产权服务", [code], f"{topic}领域的专利挖掘、布局、导航与运营服务。", "专利申请、FTO分析、专利运营",
       "", "") for name, code, topic in (
    ("秦智", "photonics.display", "光电显示"), ("长安", "new_energy.battery", "新能源"), ("西科", "biomedicine.biologics", "生物药"),
    ("华秦", "aerospace.propulsion", "航空发动机"), ("高新", "next_gen_it.ic", "集成电路"), ("丝路", "ai.vision", "人工智能"),
    ("汉唐", "new_materials.composite", "复合材料"), ("曲江", "medical_devices.implants", "医疗器械"),
    ("沣东", "hydrogen_storage.fuel_cell", "燃料电池"), ("雁塔", "smart_manufacturing.industrial_robot", "机器人"),
    ("泾河", "green_chemical.ccus", "碳捕集"), ("浐灞", "ecology.solid_waste", "固废"))]
INVESTOR = [(f"{name}", [code], f"投资{topic}领域的早中期科技企业，支持成果转化项目融资。", "股权投资、投贷联动",
             "", "", stages, lo, hi) for name, code, topic, stages, lo, hi in (
    ("秦创原种子基金", "new_materials", "新材料", ["seed", "angel"], 50, 500),
    ("西安高新创投", "photonics", "光电", ["angel", "a"], 300, 3000),
    ("陕西新能源产业基金", "new_energy", "新能源", ["a", "b"], 1000, 10000),
    ("航天科技成果转化基金", "aerospace", "航空航天", ["a", "b", "c"], 2000, 20000),
    ("西咸氢能产业基金", "hydrogen_storage", "氢能", ["b", "growth"], 3000, 30000),
    ("陕西生物医药天使基金", "biomedicine", "生物医药", ["seed", "angel"], 100, 1000),
    ("西安人工智能创投", "ai", "人工智能", ["angel", "a"], 200, 2000),
    ("长安科技银行", "smart_manufacturing", "智能制造", ["debt"], 100, 5000),
    ("陕西科技担保", "new_energy", "科技型中小企业", ["debt"], 50, 2000),
    ("西安集成电路基金", "next_gen_it", "集成电路", ["b", "c", "growth"], 5000, 50000),
    ("秦岭农业创投", "agriculture", "现代农业", ["seed", "angel", "a"], 50, 800),
    ("陕西医疗器械基金", "medical_devices", "医疗器械", ["a", "b"], 500, 5000))]
EXPERT = [(f"{name}（{title}）", [code], f"{topic}方向专家，可提供技术咨询、成果评价与项目论证。", "技术咨询、成果评价、项目论证",
           "", "") for name, title, code, topic in (
    ("张教授", "先进金属材料", "new_materials.metal", "钛合金"), ("李研究员", "光电显示", "photonics.display", "Micro LED"),
    ("王教授", "储能", "new_energy.battery", "锂电池"), ("赵总工", "航空结构", "aerospace.aero_structure", "复合材料制孔"),
    ("陈教授", "生物药", "biomedicine.biologics", "抗体工艺"), ("刘教授", "人工智能", "ai.vision", "机器视觉"),
    ("杨研究员", "氢能", "hydrogen_storage.h2_production", "电解水制氢"), ("周教授", "智能制造", "smart_manufacturing.machining", "精密加工"),
    ("吴教授", "集成电路", "next_gen_it.ic", "功率器件"), ("郑教授", "环境", "ecology.water", "水处理"),
    ("孙研究员", "农业", "agriculture.breeding", "分子育种"), ("冯教授", "医疗器械", "medical_devices.imaging", "医学影像"))]


def _rows() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for kind, rows in (("pilot", PILOT), ("poc", POC), ("lab", LAB), ("agency", AGENCY), ("ip", IP),
                       ("investor", INVESTOR), ("expert", EXPERT)):
        for n, row in enumerate(rows):
            name, codes, description, services, equipment, capacity = row[:6]
            data = {"kind": kind, "name": name, "description": description, "field_codes": codes,
                    "region": PLACES[n % len(PLACES)], "services": services, "equipment": equipment,
                    "capacity": capacity, "website": "", "contact_name": f"{name[:2]}联系人",
                    "contact_phone": f"029-8{(len(out) + 1):07d}", "contact_email": f"{kind}{n + 1}@provider.example.cn"}
            if kind == "investor":
                data.update(stages=row[6], ticket_min=float(row[7]), ticket_max=float(row[8]))
            out.append((kind, data))
    return out


def load(session: Session, broker: User, password: str) -> int:
    """Providers of every kind; one demo provider account per kind (the pilot one is the README's login)."""
    owners: dict[str, User] = {}
    count = 0
    for n, (kind, data) in enumerate(_rows()):
        owner = owners.get(kind)
        if owner is None:
            email = DEMO_PROVIDER_LOGIN if kind == "pilot" else f"provider.{kind}@demo.example.cn"
            owner = accounts.get_user_by_email(session, email)
            if owner is None:
                org = accounts.find_or_create_organisation(session, f"演示服务机构（{kind}）", OrgKind.AGENCY,
                                                           region="xian")
                owner = accounts.create_user(session, email=email, password=password,
                                             display_name=f"服务机构{kind}", role=Role.PROVIDER, organisation=org)
            owners[kind] = owner
        provider = directory.create(session, owner, data)
        directory.transition(session, provider, owner, "submit")
        if n % 40 != 39:  # two wait in the review queue
            directory.transition(session, provider, broker, "approve")
        count += 1
    return count
