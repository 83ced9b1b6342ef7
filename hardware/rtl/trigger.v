// trigger: the strategy. After every book message of a slot whose touched
// side's top changed:
//   ask side changed -> BUY  at the best ask if en_buy  and ask <= buy_limit
//   bid side changed -> SELL at the best bid if en_sell and bid >= sell_limit
// qty = min(order qty, size at that best level). Both also need: the slot's
// trading state 'T' (H messages; 'T' after reset), the market open (S 'Q'
// opens, S 'M' closes; open after reset) and, if max_spread != 0, both sides
// present with ask - bid <= max_spread.
// The candidate (cand_*) is combinational in the evaluation cycle; it also
// carries the reference price for the risk gate: (bid + ask) >> 1 when both
// sides are present (ref_v).
//
// Config (0x2xx, xx = 4*slot + k): k=0 {en_sell[33], en_buy[32], qty[31:0]},
// k=1 buy_limit, k=2 sell_limit, k=3 max_spread (0 = off).
module trigger #(
    parameter integer NUM_INSTR = 4,
    parameter integer SLOT_W    = 2,
    parameter integer LQ_W      = 40
) (
    input  wire                      clk,
    input  wire                      rst,
    input  wire                      cfg_we,
    input  wire [11:0]               cfg_addr,
    input  wire [63:0]               cfg_wdata,
    input  wire                      ev_valid,
    input  wire                      ev_evt,
    input  wire [SLOT_W-1:0]         ev_slot,
    input  wire                      ev_buy,
    input  wire                      ev_changed,
    input  wire [47:0]               ev_ts,
    input  wire [7:0]                ev_type,
    input  wire [7:0]                ev_code,
    input  wire [NUM_INSTR-1:0]      bid_v,
    input  wire [NUM_INSTR*32-1:0]   bid_px,
    input  wire [NUM_INSTR*LQ_W-1:0] bid_qty,
    input  wire [NUM_INSTR-1:0]      ask_v,
    input  wire [NUM_INSTR*32-1:0]   ask_px,
    input  wire [NUM_INSTR*LQ_W-1:0] ask_qty,
    output wire                      cand_valid,
    output wire [SLOT_W-1:0]         cand_slot,
    output wire                      cand_buy,
    output wire [31:0]               cand_price,
    output wire [31:0]               cand_qty,
    output wire [47:0]               cand_ts,
    output wire                      cand_ref_v,
    output wire [31:0]               cand_ref_px,
    output reg  [NUM_INSTR-1:0]      trading,
    output reg                       market_open
);
    reg [31:0]          c_qty    [0:NUM_INSTR-1];
    reg [31:0]          c_buylim [0:NUM_INSTR-1];
    reg [31:0]          c_sell   [0:NUM_INSTR-1];
    reg [31:0]          c_spread [0:NUM_INSTR-1];
    reg [NUM_INSTR-1:0] c_en_buy, c_en_sell;

    integer i;
    always @(posedge clk) begin
        if (rst) begin
            c_en_buy <= {NUM_INSTR{1'b0}};
            c_en_sell <= {NUM_INSTR{1'b0}};
            trading <= {NUM_INSTR{1'b1}};
            market_open <= 1'b1;
            for (i = 0; i < NUM_INSTR; i = i + 1) begin
                c_qty[i] <= 32'd0;
                c_buylim[i] <= 32'd0;
                c_sell[i] <= 32'hFFFF_FFFF;
                c_spread[i] <= 32'd0;
            end
        end else begin
            if (cfg_we && cfg_addr[11:8] == 4'h2) begin
                for (i = 0; i < NUM_INSTR; i = i + 1)
                    if ({26'd0, cfg_addr[7:2]} == i) begin
                        case (cfg_addr[1:0])
                            2'd0: begin
                                c_qty[i] <= cfg_wdata[31:0];
                                c_en_buy[i] <= cfg_wdata[32];
                                c_en_sell[i] <= cfg_wdata[33];
                            end
                            2'd1: c_buylim[i] <= cfg_wdata[31:0];
                            2'd2: c_sell[i] <= cfg_wdata[31:0];
                            default: c_spread[i] <= cfg_wdata[31:0];
                        endcase
                    end
            end
            if (ev_valid && ev_evt) begin
                if (ev_type == "H")
                    trading[ev_slot] <= (ev_code == "T");
                else if (ev_type == "S" && ev_code == "Q")
                    market_open <= 1'b1;
                else if (ev_type == "S" && ev_code == "M")
                    market_open <= 1'b0;
            end
        end
    end

    wire            bv  = bid_v[ev_slot];
    wire            av  = ask_v[ev_slot];
    wire [31:0]     bpx = bid_px[ev_slot*32 +: 32];
    wire [31:0]     apx = ask_px[ev_slot*32 +: 32];
    wire [LQ_W-1:0] bq  = bid_qty[ev_slot*LQ_W +: LQ_W];
    wire [LQ_W-1:0] aq  = ask_qty[ev_slot*LQ_W +: LQ_W];
    wire [32:0]     spread  = {1'b0, apx} - {1'b0, bpx};   // two's complement, 33 bit
    wire            spr_ok  = (c_spread[ev_slot] == 32'd0) ||
                              (bv && av && (spread[32] || spread[31:0] <= c_spread[ev_slot]));
    wire            armed   = ev_valid && !ev_evt && ev_changed && trading[ev_slot] && market_open && spr_ok;
    wire            buy_go  = armed && !ev_buy && c_en_buy[ev_slot] && av && apx <= c_buylim[ev_slot];
    wire            sell_go = armed && ev_buy && c_en_sell[ev_slot] && bv && bpx >= c_sell[ev_slot];
    wire [LQ_W-1:0] lvl_q   = buy_go ? aq : bq;
    wire [LQ_W-1:0] cfg_q   = {{(LQ_W-32){1'b0}}, c_qty[ev_slot]};
    wire [32:0]     ref_sum = {1'b0, bpx} + {1'b0, apx};

    assign cand_valid  = buy_go || sell_go;
    assign cand_slot   = ev_slot;
    assign cand_buy    = buy_go;
    assign cand_price  = buy_go ? apx : bpx;
    assign cand_qty    = (lvl_q < cfg_q) ? lvl_q[31:0] : c_qty[ev_slot];
    assign cand_ts     = ev_ts;
    assign cand_ref_v  = bv && av;
    assign cand_ref_px = ref_sum[32:1];

    wire unused_ok = &{1'b0, cfg_wdata[63:34], ref_sum[0]};
endmodule
