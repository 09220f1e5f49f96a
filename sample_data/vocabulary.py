"""The words the synthetic shop is written in: styles, categories and sentence templates.

Each category has its own vocabulary (nouns, materials, variants, origins, uses, features) and
each style its own adjectives and sentences, so a title or description composed from them
carries the category, style and material. ``generate.py`` fills the templates.
"""

from __future__ import annotations

from dataclasses import dataclass


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split("|"))


@dataclass(frozen=True)
class Style:
    """A cross-category style: the words that express it and how it moves the price."""

    name: str
    adjectives: tuple[str, ...]
    sentences: tuple[str, ...]
    zh: str
    price_factor: float


@dataclass(frozen=True)
class Category:
    """One product category and the vocabulary its titles and descriptions are built from."""

    name: str
    price: float
    styles: tuple[str, ...]
    nouns: tuple[str, ...]
    materials: tuple[str, ...]  # used as a modifier: "full-grain leather", "Nebbiolo", "50mm f/1.2"
    variants: tuple[str, ...]  # a phrase with its own preposition: "in cognac", "for 2-4 players"
    origins: tuple[str, ...]  # a phrase with its own verb: "made in Florence", "from Rioja"
    uses: tuple[str, ...]
    features: tuple[str, ...]
    zh: dict[str, str]  # Chinese names for some nouns and materials


def _cat(name: str, price: float, styles: str, *fields: str, zh: str) -> Category:
    nouns, materials, variants, origins, uses, features = (_split(f) for f in fields)
    pairs = dict(pair.split("=") for pair in _split(zh))
    return Category(
        name, price, _split(styles), nouns, materials, variants, origins, uses, features, pairs
    )


STYLES: tuple[Style, ...] = tuple(
    Style(name, _split(adj), _split(sent), zh, factor)
    for name, adj, sent, zh, factor in (
        ("minimalist", "minimalist|clean-lined|pared-back|understated|streamlined",
         "A minimalist design with nothing you don't need.|Clean-lined and understated, it suits "
         "a pared-back home.|Quietly minimalist, with a restrained palette.", "简约", 1.0),
        ("vintage", "vintage|retro|heritage|antique-finish|old-school",
         "It has the warm, vintage character of another era.|Retro details give it a vintage "
         "feel.|A heritage look that only gets better with age.", "复古", 1.1),
        ("luxury", "luxury|premium|limited-edition|signature|deluxe",
         "A luxury piece finished to the highest standard.|Premium from the first touch to the "
         "last detail.|An indulgent, luxury choice for a special occasion.", "奢华", 1.9),
        ("eco", "eco-friendly|sustainable|recycled|organic|low-impact",
         "Made with sustainable, low-impact methods and recycled packaging.|An eco-friendly "
         "choice: responsibly sourced and plastic-free.|Sustainable sourcing keeps its footprint "
         "small.", "环保", 1.05),
        ("artisanal", "handmade|hand-crafted|artisan|hand-finished|small-batch",
         "Handmade in a small workshop, so no two are quite alike.|Hand-crafted by artisans "
         "using traditional techniques.|A small-batch, handmade piece.", "手工", 1.3),
        ("technical", "high-performance|precision|pro-grade|ultralight|engineered",
         "Engineered for high performance in demanding conditions.|A precision, technical "
         "design with nothing left to chance.|Pro-grade performance in a light, engineered "
         "package.", "专业", 1.4),
        ("classic", "classic|timeless|traditional|everyday|essential",
         "A classic that never goes out of style.|Timeless and traditional, made to last for "
         "decades.|A classic shape you will reach for again and again.", "经典", 1.0),
        ("playful", "playful|colourful|whimsical|bold|quirky",
         "Playful and colourful, it brings a smile to the room.|A bold, whimsical twist on a "
         "familiar favourite.|Fun, colourful and a little quirky.", "趣味", 0.85),
    )
)  # fmt: skip
STYLE_INDEX = {s.name: k for k, s in enumerate(STYLES)}

CATEGORIES: tuple[Category, ...] = (
    _cat("Leather Bags", 180, "artisanal|classic|vintage|luxury|minimalist",
         "messenger bag|tote bag|briefcase|backpack|crossbody bag|weekender|satchel|clutch|"
         "bucket bag|laptop sleeve|belt bag|doctor bag",
         "full-grain leather|vegetable-tanned leather|pebbled calfskin|suede|waxed canvas and "
         "leather|buffalo leather|nubuck|saddle leather",
         "in cognac|in oxblood|in black|in tan|in forest green|in chestnut|in navy|with brass "
         "hardware|with a contrast stitch",
         "made in Florence|made in León|stitched in Marrakech|made in Portugal|crafted in "
         "Barcelona|made in Oaxaca|made in Vermont",
         "daily commuting|weekend trips|carrying a 15-inch laptop|the office|market runs",
         "The lining is unbleached cotton with two slip pockets.|Edges are burnished by hand and "
         "the seams saddle-stitched.|An adjustable strap lets it sit at the hip or across the "
         "body.|It develops a rich patina with use.|Comes with a cotton dust bag.",
         zh="tote bag=托特包|messenger bag=邮差包|briefcase=公文包|backpack=双肩包|"
         "full-grain leather=头层牛皮|vegetable-tanned leather=植鞣革|suede=麂皮"),
    _cat("Vintage Furniture", 650, "vintage|classic|minimalist|artisanal|luxury",
         "sideboard|armchair|writing desk|chest of drawers|bookcase|dining table|coffee table|"
         "bedside table|rocking chair|bureau|hall bench|drinks cabinet",
         "solid oak|teak|walnut|rosewood veneer|elm|beech|mahogany|pine|cherry wood",
         "with brass handles|with tapered legs|with a waxed finish|with original hardware|in a "
         "honey finish|with rattan panels|with a leather top",
         "from 1960s Denmark|restored in Yorkshire|from a Parisian flat|from 1970s Italy|sourced "
         "in Normandy|from mid-century Sweden",
         "a small living room|a home office|the hallway|a reading corner|dining for six|the "
         "bedroom",
         "Restored by hand, with the original joinery intact.|Minor marks consistent with age add "
         "to its character.|Delivered fully assembled by a two-person team.|The drawers run "
         "smoothly on their original runners.",
         zh="sideboard=餐边柜|armchair=扶手椅|writing desk=书桌|solid oak=实木橡木|teak=柚木|"
         "walnut=胡桃木"),
    _cat("Tailored Suits", 900, "classic|luxury|minimalist|vintage|playful",
         "two-piece suit|three-piece suit|double-breasted suit|dinner jacket|blazer|sport coat|"
         "morning suit|waistcoat|tuxedo|overcoat",
         "Super 120s wool|tweed|linen|cotton seersucker|flannel|mohair blend|cashmere blend|"
         "velvet|hopsack wool",
         "in charcoal|in navy|in mid-grey|in chalk stripe|in Prince of Wales check|in olive|in "
         "midnight blue|in houndstooth|in camel",
         "cut on Savile Row|tailored in Naples|woven in Biella|tailored in Milan|made in Hong "
         "Kong|cut in Tokyo",
         "weddings|the boardroom|black-tie events|summer garden parties|job interviews|everyday "
         "office wear",
         "Half-canvassed construction for a natural drape.|Made to your measurements after a "
         "short online fitting.|Working cuff buttons and a hand-sewn lapel.|Includes one free "
         "alteration.",
         zh="two-piece suit=两件套西装|blazer=西装外套|tuxedo=无尾礼服|tweed=粗花呢|linen=亚麻|"
         "flannel=法兰绒"),
    _cat("Outdoor Gear", 220, "technical|eco|minimalist|classic|playful",
         "backpacking tent|hiking backpack|rain shell|insulated jacket|hammock|bivvy bag|tarp "
         "shelter|gaiters|trail pack|windproof smock|stuff sack set|summit pack",
         "ripstop nylon|Gore-Tex|recycled polyester|Dyneema|Pertex|waxed cotton|silnylon|"
         "Cordura",
         "in orange|in sage green|in slate|in olive|in glacier blue|in black|in sand",
         "designed in Boulder|tested in the Scottish Highlands|made in Norway|designed in "
         "Chamonix|tested in Patagonia|made in Japan",
         "thru-hiking|alpine climbing|wet weekends in the hills|winter camping|bikepacking|"
         "fast-and-light trips",
         "Packs down to the size of a water bottle.|Taped seams keep out driving rain.|Comes with "
         "a lifetime repair guarantee.|Light enough to forget it is in your pack.",
         zh="backpacking tent=登山帐篷|hiking backpack=徒步背包|rain shell=冲锋衣|"
         "ripstop nylon=防撕裂尼龙"),
    _cat("Fine Wine", 45, "classic|luxury|eco|artisanal|vintage",
         "cuvée|reserve|estate wine|single-vineyard bottling|magnum|half-bottle|case of six|"
         "wine",
         "Tempranillo|Nebbiolo|Chardonnay|Pinot Noir|Malbec|Sangiovese|Riesling|Syrah|Cabernet "
         "Sauvignon|Grenache",
         "from the 2015 vintage|from the 2018 vintage|from the 2019 vintage|from the 2020 "
         "vintage|aged 24 months in oak|from old vines|bottled unfiltered",
         "from Rioja|from Piedmont|from Burgundy|from Mendoza|from the Mosel|from the Douro "
         "Valley|from Napa|from the Barossa",
         "a celebration dinner|roast lamb|laying down for ten years|a summer picnic|cheese "
         "boards|gifting",
         "Decant for an hour before serving.|Drinking well now and for the next decade.|Scored "
         "93 points by an independent taster.|Shipped in temperature-controlled packaging.",
         zh="wine=葡萄酒|magnum=大瓶装葡萄酒|Pinot Noir=黑皮诺|Chardonnay=霞多丽|"
         "Cabernet Sauvignon=赤霞珠"),
    _cat("Custom Jewellery", 240, "minimalist|luxury|artisanal|vintage|playful|classic",
         "signet ring|pendant necklace|stacking ring|hoop earrings|charm bracelet|cuff bangle|"
         "engagement ring|stud earrings|name necklace|locket|tie clip|anklet",
         "sterling silver|18k gold|rose gold|recycled silver|platinum|gold vermeil|brass|"
         "titanium",
         "with a sapphire|with a lab-grown diamond|with a moonstone|engraved with your initials|"
         "with a freshwater pearl|with an emerald|set with opal|in a hammered finish",
         "made in Jaipur|handmade in Brighton|cast in Antwerp|made in Bali|set in Hatton Garden|"
         "made in Copenhagen",
         "anniversaries|everyday wear|a bridesmaid gift|stacking with other pieces|engagements|a "
         "birthday surprise",
         "Engraving of up to twelve characters is included.|Arrives in a recycled gift box with a "
         "polishing cloth.|Resized free of charge within 60 days.|Each piece is hallmarked.",
         zh="signet ring=印章戒指|pendant necklace=吊坠项链|hoop earrings=圈形耳环|"
         "sterling silver=925纯银|18k gold=18K金|rose gold=玫瑰金"),
    _cat("Camera Lenses", 700, "technical|vintage|classic|minimalist|luxury",
         "prime lens|zoom lens|macro lens|telephoto lens|wide-angle lens|tilt-shift lens|fisheye "
         "lens|portrait lens|pancake lens|cine lens",
         "35mm f/1.4|50mm f/1.2|85mm f/1.8|24-70mm f/2.8|70-200mm f/4|100mm f/2.8|14mm f/2.8|"
         "28mm f/2|135mm f/2",
         "in Sony E-mount|in Canon RF mount|in Nikon Z mount|in Fujifilm X mount|in Leica M "
         "mount|in Micro Four Thirds|in L-mount",
         "made in Japan|assembled in Germany|designed in Shenzhen|made in Wetzlar|ground in Jena",
         "street photography|portraits|wildlife|astrophotography|weddings|product shots|"
         "landscapes",
         "Weather-sealed with a fluorine front coating.|Near-silent autofocus suits video work.|"
         "An aperture ring with a de-click switch.|Comes with hood, pouch and both caps.",
         zh="prime lens=定焦镜头|zoom lens=变焦镜头|macro lens=微距镜头"),
    _cat("Handicrafts", 40, "artisanal|eco|playful|vintage|classic",
         "woven basket|wall hanging|carved bowl|embroidered cushion cover|macramé plant hanger|"
         "block-printed tablecloth|beaded coaster set|hand-painted tray|rag rug|spoon set|"
         "tapestry",
         "seagrass|jute|mango wood|cotton|rattan|hand-dyed wool|palm leaf|banana fibre|recycled "
         "sari silk|olive wood",
         "in indigo|in natural tones|in terracotta|in saffron|in mustard and teal|in undyed ecru|"
         "with a geometric pattern|with tassels",
         "woven in Rwanda|made in Oaxaca|made in Jaipur|made in Kenya|made in Vietnam|handmade in "
         "Peru|stitched in Gujarat",
         "a sunny kitchen|gifting|a boho living room|storing fruit|a nursery wall|the dining "
         "table",
         "Each piece is one of a kind, so colours vary slightly.|Made by a women-led cooperative "
         "paid fair-trade wages.|Takes around three days to make by hand.|Spot clean only.",
         zh="woven basket=编织篮|wall hanging=挂毯|carved bowl=木雕碗|rattan=藤编|jute=黄麻|"
         "cotton=棉"),
    _cat("Luggage", 260, "minimalist|technical|luxury|classic|vintage|playful",
         "carry-on suitcase|checked suitcase|duffel bag|garment bag|trunk|wheeled holdall|"
         "underseat bag|packing cube set|travel backpack|cabin case",
         "polycarbonate|aluminium|ballistic nylon|recycled PET|waxed canvas|full-grain leather|"
         "Cordura|vegan leather",
         "in graphite|in navy|in sand|in racing green|in silver|in matte black|in burgundy|with a "
         "TSA lock|with spinner wheels",
         "designed in Berlin|made in Cologne|designed in Stockholm|made in Italy|designed in "
         "Seoul|built in Toronto",
         "weekend city breaks|long-haul flights|business travel|family holidays|two-week trips|"
         "backpacking",
         "Four spinner wheels glide in any direction.|A compression panel keeps clothes in place."
         "|Covered by a ten-year warranty.|Fits most airlines' cabin limits.",
         zh="carry-on suitcase=登机箱|duffel bag=旅行袋|trunk=旅行箱|aluminium=铝镁合金"),
    _cat("Beauty Gift Boxes", 55, "luxury|eco|playful|minimalist|classic",
         "skincare gift box|bath set|skincare discovery set|lip care trio|hand care kit|spa box|"
         "advent calendar|shaving set|hair care bundle|face mask collection",
         "shea butter|rosehip oil|hyaluronic acid|rose water|vitamin C|argan oil|aloe vera|"
         "niacinamide|bamboo charcoal",
         "with a jade roller|in a keepsake tin|with a travel pouch|in a recycled box|with five "
         "minis|with a silk scrunchie|with a scented candle",
         "made in Provence|formulated in Seoul|made in Bath|made in Kyoto|formulated in London|"
         "made in Iceland",
         "a self-care evening|Mother's Day|dry winter skin|a birthday present|sensitive skin|a "
         "weekend away",
         "Every product is cruelty-free and vegan.|Full-size products worth more than the box "
         "price.|Gift-wrapped with a handwritten note on request.|Free from parabens and "
         "synthetic dyes.",
         zh="skincare gift box=护肤礼盒|bath set=沐浴套装|shea butter=乳木果|"
         "argan oil=摩洛哥坚果油"),
    _cat("Tea", 22, "classic|artisanal|eco|luxury|vintage",
         "loose-leaf tea|tea tin|tea sampler|tea caddy|pyramid tea bags|gift tin|pressed tea "
         "cake|tea pouch",
         "Darjeeling first flush|Assam|sencha|Tieguanyin|Da Hong Pao|Silver Needle|rooibos|"
         "chamomile|Earl Grey|genmaicha",
         "from the spring harvest|with a bamboo scoop|in a 50 g tin|in a 100 g pouch|from a "
         "single estate|smoked over pine|with dried rose petals",
         "from Darjeeling|from Uji|from Yunnan|from Fujian|from Sri Lanka|from Alishan|from Kenya",
         "a slow morning|gongfu brewing|cold brew|after dinner|a gift for a tea lover|everyday "
         "drinking",
         "Brew at 85°C for three minutes.|Each leaf is picked and rolled by hand.|Resealable "
         "packaging keeps it fresh for a year.|Yields several infusions.",
         zh="loose-leaf tea=散装茶叶|pressed tea cake=茶饼|tea tin=罐装茶|Tieguanyin=铁观音|"
         "Da Hong Pao=大红袍|Silver Needle=白毫银针"),
    _cat("Ceramics", 45, "artisanal|minimalist|classic|playful|vintage|eco",
         "mug|serving bowl|dinner plate set|bud vase|teapot|espresso cup|pasta bowl|planter|"
         "pouring jug|sake set|butter dish|platter",
         "stoneware|porcelain|earthenware|raku-fired|terracotta|celadon|speckled clay",
         "in a speckled oat glaze|in cobalt blue|in matte white|in a tenmoku glaze|in sea green|"
         "with a hand-painted rim|in charcoal",
         "thrown in Cornwall|made in Mashiko|made in Portugal|thrown in Stoke-on-Trent|made in "
         "Jingdezhen|handmade in Copenhagen",
         "the morning coffee|family dinners|a windowsill display|serving salads|the tea ritual|"
         "fresh flowers",
         "Dishwasher and microwave safe.|Slight variations in the glaze make every piece unique."
         "|Wheel-thrown and signed on the base.|Sold as a set of four.",
         zh="teapot=茶壶|bud vase=花瓶|mug=马克杯|porcelain=白瓷|celadon=青瓷|stoneware=粗陶"),
    _cat("Vinyl Records", 35, "vintage|classic|playful|luxury|minimalist",
         "LP|double LP|box set|7-inch single|live album|reissue|soundtrack|compilation|EP|"
         "picture disc",
         "jazz|soul|krautrock|ambient|folk|afrobeat|bossa nova|post-punk|classical|hip-hop|city "
         "pop",
         "on 180 g vinyl|on clear vinyl|on marbled red vinyl|with a gatefold sleeve|with liner "
         "notes|limited to 500 copies|half-speed mastered",
         "pressed in Germany|recorded in Lagos|pressed in Nashville|recorded in Rio|from a Tokyo "
         "label|pressed in the Czech Republic",
         "Sunday mornings|a listening party|a collector's shelf|late-night listening|gifting a "
         "music fan|DJ sets",
         "Cut from the original analogue tapes.|Includes a download code.|Inner sleeves are "
         "anti-static.|Ships in a sturdy mailer with corner protection.",
         zh="LP=黑胶唱片|box set=唱片套装|jazz=爵士|city pop=城市流行|folk=民谣"),
    _cat("Board Games", 45, "playful|classic|luxury|eco|vintage|minimalist",
         "strategy game|party game|cooperative game|card game|deck-builder|war game|puzzle game|"
         "family game|dice game|legacy game|two-player game",
         "pirate|railway|space|farming|Roman|fantasy|murder-mystery|bird-watching|city-building"
         "|ocean",
         "for 2-4 players|for 3-6 players|for solo play|with metal coins|with a deluxe insert|"
         "with wooden components|with painted miniatures",
         "designed in Germany|designed in Seattle|published in Kyoto|designed in Poland|made in "
         "the UK",
         "family game night|two-player evenings|a Friday with friends|solo play|kids aged 8 and "
         "up|long campaign weekends",
         "Plays in 45 to 60 minutes.|Easy to teach in ten minutes.|Highly replayable thanks to "
         "modular boards.|Includes a solo mode.",
         zh="strategy game=策略桌游|party game=聚会桌游|card game=卡牌游戏|space=太空|"
         "railway=铁路"),
    _cat("Kitchen Knives", 150, "technical|artisanal|classic|luxury|minimalist",
         "chef's knife|santoku|paring knife|bread knife|nakiri|gyuto|boning knife|cleaver|knife "
         "set|petty knife|carving knife",
         "VG-10 steel|Damascus steel|carbon steel|stainless steel|Aogami blue steel|Shirogami "
         "white steel|ceramic|powdered steel",
         "with an olive wood handle|with a walnut handle|with a pakka wood handle|in a kurouchi "
         "finish|with a hammered tsuchime finish|with a saya cover",
         "forged in Seki|forged in Sakai|made in Solingen|forged in Sheffield|made in Thiers|"
         "hand-forged in Sanjo",
         "everyday prep|slicing fish|vegetables|carving the Sunday roast|bread|a professional "
         "kitchen",
         "Hand-sharpened to a 15-degree edge.|Full-tang construction for balance.|Hand wash and "
         "dry straight after use.|Arrives in a wooden presentation box.",
         zh="chef's knife=主厨刀|santoku=三德刀|cleaver=中式菜刀|Damascus steel=大马士革钢|"
         "carbon steel=碳钢"),
    _cat("Fountain Pens", 120, "classic|vintage|luxury|minimalist|artisanal|playful",
         "fountain pen|calligraphy set|pocket fountain pen|demonstrator pen|piston-filler pen|"
         "eyedropper pen|dip pen set|pen and journal set",
         "celluloid|ebonite|urushi lacquer|brass|resin|titanium|sterling silver|acrylic|"
         "aluminium",
         "with a 14k gold nib|with a fine steel nib|with a stub nib|with a broad italic nib|in "
         "tortoiseshell|in ocean blue|in burgundy|with a converter",
         "made in Heidelberg|lacquered in Wajima|turned in Italy|made in Tokyo|hand-turned in "
         "Cornwall|made in Taiwan",
         "daily journaling|calligraphy|signing documents|letter writing|sketching|a graduation "
         "gift",
         "Comes with a converter and two ink cartridges.|Each nib is tested before it leaves the "
         "workshop.|Screw cap with a spring-loaded clip.|Holds enough ink for a week of writing.",
         zh="fountain pen=钢笔|calligraphy set=书法钢笔套装|urushi lacquer=大漆|celluloid=赛璐珞"),
    _cat("Yoga", 60, "eco|minimalist|technical|playful|classic",
         "yoga mat|yoga block set|meditation cushion|yoga strap|bolster|travel mat|yoga towel|"
         "balance board|yoga wheel|leggings",
         "natural rubber|cork|cotton|TPE|jute|organic cotton|buckwheat-filled|recycled "
         "polyester|bamboo",
         "in sage|in terracotta|in charcoal|in lilac|in sand|in deep teal|with a carry strap|"
         "with alignment lines",
         "made in Portugal|designed in Bali|made in India|designed in Vancouver|made in Germany|"
         "designed in Byron Bay",
         "hot yoga|daily practice|meditation|restorative yoga|Pilates|travel",
         "Grippy even when wet.|Free from PVC and latex.|Wipe clean with a damp cloth.|Light "
         "enough to carry to class.",
         zh="yoga mat=瑜伽垫|meditation cushion=冥想坐垫|yoga block set=瑜伽砖|cork=软木|"
         "natural rubber=天然橡胶"),
    _cat("Bicycles", 1400, "technical|vintage|minimalist|classic|eco|playful|luxury",
         "road bike|gravel bike|touring bike|city bike|folding bike|cargo bike|fixed-gear bike|"
         "mountain bike|e-bike|frameset",
         "steel|carbon|titanium|aluminium|chromoly|bamboo",
         "in British racing green|in matte black|in cream|in signal orange|in sky blue|with a "
         "Shimano 105 groupset|with mudguards and rack|with a belt drive",
         "built in Taiwan|hand-built in London|welded in Portland|made in Italy|built in "
         "Amsterdam|designed in Copenhagen",
         "commuting|weekend gravel rides|touring|city errands|racing|school runs",
         "Fitted with tubeless-ready wheels.|Frame sizes from 49 to 61 cm.|Hydraulic disc brakes "
         "for all-weather stopping.|Arrives 90% assembled with tools included.",
         zh="road bike=公路自行车|folding bike=折叠自行车|city bike=城市自行车|titanium=钛合金|"
         "carbon=碳纤维"),
    _cat("Perfume", 110, "luxury|minimalist|vintage|artisanal|eco|playful|classic",
         "eau de parfum|eau de toilette|solid perfume|perfume oil|discovery set|cologne|travel "
         "spray|extrait",
         "oud|vetiver|sandalwood|bergamot|iris|tuberose|amber|fig leaf|vanilla|rose|cedarwood|"
         "neroli",
         "in a 50 ml bottle|in a 100 ml bottle|in a 10 ml travel size|in a refillable bottle|"
         "with notes of pink pepper|with a hint of leather|with a smoky finish",
         "made in Grasse|blended in Paris|composed in Florence|made in Oman|blended in London|"
         "made in Kyoto",
         "evening wear|summer days|the office|date nights|layering|a signature scent",
         "Lasts six to eight hours on skin.|Made with natural absolutes.|Unisex, with an intimate "
         "sillage.|Refills are available at a lower price.",
         zh="eau de parfum=香水|perfume oil=香精油|solid perfume=固体香膏|oud=沉香|"
         "sandalwood=檀香|rose=玫瑰"),
    _cat("Rare Books", 260, "vintage|classic|luxury|artisanal|playful",
         "first edition|signed copy|illustrated edition|atlas|folio|poetry collection|travel "
         "memoir|novel|cookbook|field guide",
         "cloth-bound|half-calf|gilt-edged|leather-bound|vellum-bound|marbled-board|quarter-"
         "leather",
         "from 1889|from 1902|from 1923|from 1934|from 1951|from 1967|from 1978",
         "printed in London|printed in Boston|published in Paris|printed in Edinburgh|printed in "
         "Leipzig|published in New York",
         "a collector's library|a bibliophile's birthday|a reading room|gifting|display in a "
         "glass case|research",
         "Light foxing to the endpapers, text clean.|Provenance notes are included.|Housed in a "
         "custom clamshell box.|Graded very good by our in-house bibliographer.",
         zh="first edition=初版书|signed copy=签名本|atlas=地图集|leather-bound=皮面精装|"
         "cloth-bound=布面精装"),
)  # fmt: skip

BRANDS = _split(
    "Oakhaven|Maison Clair|Nordvik|Bottega Lume|Kestrel & Co.|Atelier Rossi|Juniper Lane|"
    "Hollis|Saltmarsh|Ferro|Aldgate|Wren & Finch|Larkspur|Tidewater|Ostra|Brindle|Calder|Yuzen|"
    "Moreau|Vesper|Halden|Quill & Hearth|Sable|Ember Row|Cobalt Fox|Northfold|Linden|Amberley|"
    "Ironbark|Mistral|Tallow|Umber|Kiso|Marlowe|Pemberly|Aster|Vantage|Solenne|Harrow|Fjell"
)
TITLE_TEMPLATES = (
    "{s} {m} {n} {v}",
    "{s} {m} {n}, {o}",
    "{m} {n} {v}, {o}",
    "{b} {m} {n}",
    "{b} {s} {n} {v}",
    "{m} {n} for {u}",
    "{s} {n} for {u}, {o}",
    "{s} {m} {n}",
    "{b} {n} {v}, {o}",
)
LEAD_TEMPLATES = (
    "{As} {s} {m} {n}, {o}.",
    "{m} {n} {v}, {o}.",
    "{b}'s {s} take on the {m} {n}, {o}.",
    "{Am} {m} {n} {v}, by {b}.",
)
USE_TEMPLATES = (
    "Ideal for {u}.",
    "Perfect for {u}.",
    "Made with {u} in mind.",
    "A great choice for {u}.",
    "Chosen by our customers for {u}.",
)
FILLER_WORDS = {"in", "with", "for", "from", "on", "the", "a", "an", "made", "by", "of"}


def article(phrase: str) -> str:
    first = phrase.lower()
    vowel_sound = first[0] in "aeiou" or first.startswith(("8", "11", "18"))
    return "An" if vowel_sound else "A"


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def keyword(phrase: str) -> str:
    """The content words of a phrase ("made in Florence" -> "Florence"), for tags."""
    words = phrase.split()
    while words and words[0].lower() in FILLER_WORDS:
        words = words[1:]
    return " ".join(words)


def place(origin: str) -> str:
    """The place in an origin phrase ("hand-forged in Sanjo" -> "Sanjo")."""
    for marker in (" in ", " on ", "from "):
        origin = origin.split(marker)[-1]
    return keyword(origin)
