// risk_gate: pre-trade checks with the limits and semantics of the software
// kernel.risk.RiskEngine.check_order, in its order (the first failure decides):
//   trading state  killed (kill switch) -> reject "trading_state"
//   qty            qty == 0
//   max_order_qty  qty > max_order_qty
//   price band     no reference (a side empty) -> "reference_price";
//                  |price - ref| * 10000 > bps * ref -> "price_band_bps"
//   max_position   worst case in the order's direction: pos + qty > max
//                  (buy), pos - qty < -max (sell)
//   order rate     token bucket in exact integer units: refill
//                  min(cap, units + (ts - last_ts) * per_ns) only when the
//                  order gets this far and ts > last_ts (the first one only
//                  sets last_ts), accept if units >= unit, then units -= unit
// A limit written as 0 is off (RiskLimits None). ref = (bid + ask) >> 1, ts is
// the ITCH timestamp of the triggering message. Without fill feedback an
// accepted order is assumed filled in full: pos += +-qty.
//
// A candidate takes 2 cycles: it is latched with its time since the last
// refill (R0 -> R1), R1 registers the stateless checks and the refill product,
// R2 decides and updates the state (the accepted order leaves combinationally
// in that cycle). The gate starts a candidate only when the order FIFO has
// room, so an accepted order is never dropped.
//
// Config (0x3xx): 0 max_order_qty, 1 max_position, 2 price_band_bps,
// 3 per_ns (refill units per ns, 0 = no rate limit), 4 unit (units per order),
// 5 capacity (units; writing it refills the bucket and forgets last_ts).
// Counters (32 bit, index i): 0 accepted, 1 trading_state, 2 qty,
// 3 max_order_qty, 4 reference_price, 5 price_band_bps, 6 max_position,
// 7 max_orders_per_sec. Positions: pos_bus, 48-bit signed per slot.
module risk_gate #(
    parameter integer NUM_INSTR = 4,
    parameter integer SLOT_W    = 2
) (
    input  wire                    clk,
    input  wire                    rst,
    input  wire                    cfg_we,
    input  wire [11:0]             cfg_addr,
    input  wire [63:0]             cfg_wdata,
    input  wire                    killed,
    input  wire                    c_valid,
    output wire                    c_pop,
    input  wire [SLOT_W-1:0]       c_slot,
    input  wire                    c_buy,
    input  wire [31:0]             c_price,
    input  wire [31:0]             c_qty,
    input  wire [47:0]             c_ts,
    input  wire                    c_ref_v,
    input  wire [31:0]             c_ref_px,
    input  wire                    out_room,
    output wire                    o_valid,
    output wire [SLOT_W-1:0]       o_slot,
    output wire                    o_buy,
    output wire [31:0]             o_price,
    output wire [31:0]             o_qty,
    output wire [NUM_INSTR*48-1:0] pos_bus,
    output wire [8*32-1:0]         counters
);
    reg [31:0] max_qty, max_pos, band_bps, per_ns;
    reg [63:0] unit, cap;

    reg signed [47:0] pos [0:NUM_INSTR-1];
    reg [63:0] units;
    reg [47:0] last_ts;
    reg        ts_seen;
    reg [31:0] cnt [0:7];

    genvar gs;
    generate
        for (gs = 0; gs < NUM_INSTR; gs = gs + 1) begin : g_pos
            assign pos_bus[gs*48 +: 48] = pos[gs];
        end
        for (gs = 0; gs < 8; gs = gs + 1) begin : g_cnt
            assign counters[gs*32 +: 32] = cnt[gs];
        end
    endgenerate

    // -- R1: latch the candidate, stateless checks, band products
    reg [1:0]        stage;       // 0 idle, 1 R1, 2 R2
    reg [SLOT_W-1:0] r_slot;
    reg              r_buy;
    reg [31:0]       r_price, r_qty;
    reg [47:0]       r_ts;
    reg              r_ref_v;
    reg [31:0]       r_ref;
    assign c_pop = (stage == 2'd0) && c_valid && out_room;

    wire [31:0] diff      = (r_price >= r_ref) ? r_price - r_ref : r_ref - r_price;
    wire [47:0] band_lhs  = diff * 48'd10000;
    wire [63:0] band_rhs  = band_bps * r_ref;
    wire signed [48:0] pos_r = {pos[r_slot][47], pos[r_slot]};
    wire signed [48:0] q_s   = {17'd0, r_qty};
    wire signed [48:0] mp_s  = {17'd0, max_pos};
    wire        pos_fail  = (max_pos != 32'd0) &&
                            (r_buy ? (pos_r + q_s > mp_s) : (pos_r - q_s < -mp_s));
    wire        newer     = !ts_seen || c_ts > last_ts;
    wire [47:0] dt        = (ts_seen && c_ts > last_ts) ? c_ts - last_ts : 48'd0;

    reg [2:0]  fail;          // 0 none, else the counter index of the failed check
    reg [47:0] dt_q;
    reg [79:0] refill;
    reg        newer_q;

    // -- R2: the decision
    wire [80:0] filled   = {17'd0, units} + {1'b0, refill};
    wire [63:0] units_r  = (filled > {17'd0, cap}) ? cap : filled[63:0];
    wire        rate_ok  = (per_ns == 32'd0) || (units_r >= unit);
    wire [2:0]  verdict  = killed ? 3'd1 : (fail != 3'd0) ? fail : rate_ok ? 3'd0 : 3'd7;
    // the accepted order goes to the order FIFO in the decision cycle
    assign o_valid = (stage == 2'd2) && (verdict == 3'd0);
    assign o_slot  = r_slot;
    assign o_buy   = r_buy;
    assign o_price = r_price;
    assign o_qty   = r_qty;

    integer i;
    always @(posedge clk) begin
        if (rst) begin
            max_qty <= 32'd0;
            max_pos <= 32'd0;
            band_bps <= 32'd0;
            per_ns <= 32'd0;
            unit <= 64'd0;
            cap <= 64'd0;
            units <= 64'd0;
            last_ts <= 48'd0;
            ts_seen <= 1'b0;
            stage <= 2'd0;
            for (i = 0; i < NUM_INSTR; i = i + 1)
                pos[i] <= 48'sd0;
            for (i = 0; i < 8; i = i + 1)
                cnt[i] <= 32'd0;
        end else begin
            if (cfg_we && cfg_addr[11:8] == 4'h3) begin
                case (cfg_addr[7:0])
                    8'd0: max_qty <= cfg_wdata[31:0];
                    8'd1: max_pos <= cfg_wdata[31:0];
                    8'd2: band_bps <= cfg_wdata[31:0];
                    8'd3: per_ns <= cfg_wdata[31:0];
                    8'd4: unit <= cfg_wdata;
                    8'd5: begin
                        cap <= cfg_wdata;
                        units <= cfg_wdata;
                        ts_seen <= 1'b0;
                    end
                    default: ;
                endcase
            end
            case (stage)
                2'd0: if (c_pop) begin
                    r_slot <= c_slot;
                    r_buy <= c_buy;
                    r_price <= c_price;
                    r_qty <= c_qty;
                    r_ts <= c_ts;
                    r_ref_v <= c_ref_v;
                    r_ref <= c_ref_px;
                    dt_q <= dt;
                    newer_q <= newer;
                    stage <= 2'd1;
                end
                2'd1: begin
                    if (r_qty == 32'd0)
                        fail <= 3'd2;
                    else if (max_qty != 32'd0 && r_qty > max_qty)
                        fail <= 3'd3;
                    else if (band_bps != 32'd0 && !r_ref_v)
                        fail <= 3'd4;
                    else if (band_bps != 32'd0 && {16'd0, band_lhs} > band_rhs)
                        fail <= 3'd5;
                    else if (pos_fail)
                        fail <= 3'd6;
                    else
                        fail <= 3'd0;
                    refill <= dt_q * per_ns;
                    stage <= 2'd2;
                end
                default: begin
                    stage <= 2'd0;
                    cnt[verdict] <= cnt[verdict] + 32'd1;
                    // the bucket refills only for orders that reach the rate check
                    if (!killed && fail == 3'd0 && per_ns != 32'd0) begin
                        units <= rate_ok ? units_r - unit : units_r;
                        if (newer_q) begin
                            last_ts <= r_ts;
                            ts_seen <= 1'b1;
                        end
                    end
                    if (verdict == 3'd0) begin
                        pos[r_slot] <= r_buy ? pos[r_slot] + {16'd0, r_qty} : pos[r_slot] - {16'd0, r_qty};
                    end
                end
            endcase
        end
    end
endmodule
